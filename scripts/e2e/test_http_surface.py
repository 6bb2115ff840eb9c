"""Raw-HTTP checks of everything around the completions: routing, /health, /metrics, /tokenize,
/detokenize, /openapi.json, X-Request-Id, authentication and CORS.

Every response body is validated against our /openapi.json (and OpenAI's schema where it has
one) by the `http` fixtures.
"""

from __future__ import annotations

import json
import re
import threading

import jsonschema
import pytest

from conftest import (API_KEYS, CORS_ORIGIN, MODEL, OPENAI_SCHEMAS, QUESTION, RawHTTP, SchemaChecker, ServerProcess,
                      assert_error, metric_value, parse_sse)

CHAT_BODY = {"model": MODEL, "messages": QUESTION, "max_tokens": 1}


# --- routing ------------------------------------------------------------------------------------

NOT_FOUND = [
    ("GET", "/"),
    ("GET", "/v1"),
    ("GET", "/v1/nope"),
    ("POST", "/v1/audio/speech"),
    ("POST", "/v2/chat/completions"),
    ("GET", "/v1/chat/completions/extra"),
    ("GET", "/health/"),
]


@pytest.mark.parametrize("method,path", NOT_FOUND, ids=[f"{m} {p}" for m, p in NOT_FOUND])
def test_unknown_route_is_404_json(http, method, path):
    body = b"{}" if method == "POST" else None
    assert_error(http.request(method, path, body), 404)


def test_unknown_model_is_404(http):
    error = assert_error(http.get("/v1/models/no-such-model"), 404)
    assert error["code"] == "model_not_found", error


WRONG_METHOD = [
    ("GET", "/v1/chat/completions", "POST"),
    ("PUT", "/v1/chat/completions", "POST"),
    ("DELETE", "/v1/completions", "POST"),
    ("GET", "/tokenize", "POST"),
    ("GET", "/detokenize", "POST"),
    ("POST", "/v1/models", "GET"),
    ("DELETE", "/v1/models", "GET"),
    ("POST", "/health", "GET"),
    ("POST", "/metrics", "GET"),
    ("POST", "/openapi.json", "GET"),
]


@pytest.mark.parametrize("method,path,allowed", WRONG_METHOD, ids=[f"{m} {p}" for m, p, _ in WRONG_METHOD])
def test_wrong_method_is_405_json(http, method, path, allowed):
    body = b"{}" if method in ("POST", "PUT") else None
    resp = http.request(method, path, body)
    assert_error(resp, 405)
    # RFC 9110 15.5.6: a 405 response MUST carry an Allow header listing the allowed methods.
    allow = resp.header("Allow")
    assert allow is not None, f"405 without an Allow header: {resp.headers}"
    assert allowed in [m.strip() for m in allow.split(",")], allow


@pytest.mark.parametrize("method", ["BREW", "get", "PROPFIND"])
def test_unknown_method_is_501_json(http, method):
    # RFC 9110 9.1: a method the server does not recognise (methods are case-sensitive) is a 501.
    assert_error(http.request(method, "/v1/models", None), 501)


# --- health, models, metrics --------------------------------------------------------------------


def test_health_ready(http):
    resp = http.get("/health")
    assert resp.status == 200, resp
    assert resp.json() == {"status": "ok"}
    head = http.request("HEAD", "/health")
    assert head.status == 200 and head.body == b""


@pytest.mark.parametrize("path", ["/v1/models", f"/v1/models/{MODEL}", "/metrics", "/openapi.json", "/health"])
def test_head_wherever_get(http, path):
    """RFC 9110 9.1: HEAD wherever GET, with GET's status and headers and no body."""
    get = http.get(path, validate=False)
    head = http.request("HEAD", path, validate=False)
    assert head.status == get.status == 200, (head, get)
    assert head.body == b""
    assert head.content_type == get.content_type
    if path != "/metrics":  # the metrics text changes between two requests
        assert head.header("Content-Length") == get.header("Content-Length") == str(len(get.raw_body))


def test_models_endpoints(http, max_model_len):
    listing = http.get("/v1/models").json()
    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == [MODEL]
    model = http.get(f"/v1/models/{MODEL}").json()
    assert model == listing["data"][0]
    assert max_model_len > 0


PROM_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
PROM_SAMPLE = re.compile(
    rf'^({PROM_NAME})(\{{({PROM_NAME}="(?:[^"\\\n]|\\.)*"(,{PROM_NAME}="(?:[^"\\\n]|\\.)*")*,?)?\}})? '
    r"(-?[0-9.eE+-]+|NaN|\+Inf|-Inf)( -?\d+)?$"
)


def test_metrics_prometheus_text(http):
    resp = http.get("/metrics")
    assert resp.status == 200
    assert resp.content_type.startswith("text/plain"), resp.content_type
    text = resp.body.decode("utf-8")
    assert text.endswith("\n")
    types: dict[str, str] = {}
    helped: set[str] = set()
    samples = []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split(" ")[2])
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in {"counter", "gauge", "histogram", "summary", "untyped"}, line
            assert name not in types, f"TYPE given twice for {name}"
            types[name] = kind
        elif line.startswith("#") or not line:
            continue
        else:
            m = PROM_SAMPLE.match(line)
            assert m, f"not a Prometheus sample line: {line!r}"
            samples.append(m.group(1))
    for name in samples:
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, f"sample {name} has no # TYPE"
        assert family in helped, f"sample {name} has no # HELP"
    # vLLM's names with the moeserve: prefix, and their types. The suite has run requests by now, so
    # the counters and histograms have values.
    expected = {
        "moeserve:num_requests_running": "gauge", "moeserve:num_requests_waiting": "gauge",
        "moeserve:kv_cache_usage_perc": "gauge", "moeserve:prefix_cache_queries_total": "counter",
        "moeserve:prefix_cache_hits_total": "counter", "moeserve:num_preemptions_total": "counter",
        "moeserve:prompt_tokens_total": "counter", "moeserve:generation_tokens_total": "counter",
        "moeserve:request_success_total": "counter", "moeserve:time_to_first_token_seconds": "histogram",
        "moeserve:inter_token_latency_seconds": "histogram", "moeserve:e2e_request_latency_seconds": "histogram",
        "moeserve:request_queue_time_seconds": "histogram", "moeserve:http_requests_total": "counter",
        "moeserve:uptime_seconds": "gauge", "process_resident_memory_bytes": "gauge",
    }
    for name, kind in expected.items():
        assert types.get(name) == kind, (name, types.get(name))
    running = metric_value(text, "moeserve:num_requests_running", {"model_name": MODEL})
    assert running is not None and running >= 0
    usage = metric_value(text, "moeserve:kv_cache_usage_perc", {"model_name": MODEL})
    assert usage is not None and 0 <= usage <= 1
    assert (metric_value(text, "moeserve:http_requests_total", {"status": "200"}) or 0) > 0
    assert metric_value(text, "process_resident_memory_bytes") > 50e6  # the model is mapped in
    # Histogram invariants: the +Inf bucket equals _count, buckets are cumulative.
    for name in [n for n, k in types.items() if k == "histogram"]:
        buckets = [(float("inf") if m.group(1) == "+Inf" else float(m.group(1)), float(m.group(2)))
                   for m in re.finditer(rf'^{re.escape(name)}_bucket{{[^}}]*le="([^"]+)"}} (\S+)$', text, re.M)]
        count = metric_value(text, name + "_count")
        assert buckets and count is not None, name
        values = [v for _, v in sorted(buckets)]
        assert values == sorted(values) and values[-1] == count, (name, buckets, count)


# --- tokenize / detokenize ----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["Hello world", "The capital of France is Paris.", "naïve café 東京 🙂", " spaces  "])
def test_tokenize_detokenize_round_trip(http, max_model_len, text):
    tok = http.post("/tokenize", {"model": MODEL, "prompt": text}).json()
    assert tok["count"] == len(tok["tokens"]) > 0
    assert tok["max_model_len"] == max_model_len
    back = http.post("/detokenize", {"model": MODEL, "tokens": tok["tokens"]}).json()
    assert back["prompt"] == text


def test_tokenize_model_is_optional(http):
    with_model = http.post("/tokenize", {"model": MODEL, "prompt": "Hi"}).json()
    without = http.post("/tokenize", {"prompt": "Hi"}).json()
    assert with_model == without


def test_tokenize_messages_matches_chat_prompt_tokens(http):
    tok = http.post("/tokenize", {"model": MODEL, "messages": QUESTION}).json()
    chat = http.post("/v1/chat/completions", CHAT_BODY).json()
    assert tok["count"] == chat["usage"]["prompt_tokens"]
    # The chat template was applied: the prompt text holds the question and more.
    text = http.post("/detokenize", {"tokens": tok["tokens"]}).json()["prompt"]
    assert QUESTION[0]["content"] in text and len(text) > len(QUESTION[0]["content"])


def test_detokenize_empty(http):
    assert http.post("/detokenize", {"model": MODEL, "tokens": []}).json() == {"prompt": ""}


# --- /openapi.json ------------------------------------------------------------------------------


def test_openapi_document(http, openapi_doc):
    resp = http.get("/openapi.json")
    assert resp.content_type.startswith("application/json")
    doc = resp.json()
    assert doc == openapi_doc
    assert doc["openapi"].startswith("3.1"), doc["openapi"]
    assert doc["info"]["title"] and doc["info"]["version"]
    for path, methods in {
        "/v1/chat/completions": ["post"], "/v1/completions": ["post"], "/v1/models": ["get"],
        "/v1/models/{model}": ["get"], "/health": ["get"], "/metrics": ["get"], "/tokenize": ["post"],
        "/detokenize": ["post"], "/openapi.json": ["get"],
    }.items():
        assert path in doc["paths"], f"{path} missing from /openapi.json"
        for m in methods:
            assert m in doc["paths"][path], f"{m.upper()} {path} missing from /openapi.json"
    # Every component is a valid Draft 2020-12 schema and every $ref resolves.
    for name, schema in doc["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema)

    def refs(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref":
                    yield v
                else:
                    yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)

    for ref in refs(doc):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"], f"dangling $ref {ref}"


def test_openapi_request_schemas_accept_what_the_server_accepts(openapi_doc):
    # Our request schemas must describe the requests this suite sends successfully.
    validator = jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/CreateChatCompletionRequest", "components": openapi_doc["components"]}
    )
    good = dict(CHAT_BODY, temperature=0.5, stop=["x"], logprobs=True, top_logprobs=2, stream=True,
                stream_options={"include_usage": True}, seed=3, n=2, user="u")
    assert not list(validator.iter_errors(good))
    parts = dict(CHAT_BODY, messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    assert not list(validator.iter_errors(parts))


# --- X-Request-Id -------------------------------------------------------------------------------


def test_request_id_is_honoured(http):
    rid = "e2e-req-0001"
    resp = http.post("/v1/chat/completions", CHAT_BODY, headers={"X-Request-Id": rid})
    assert resp.json()["id"] == f"chatcmpl-{rid}"
    assert resp.header("X-Request-Id") == rid

    resp = http.post("/v1/chat/completions", dict(CHAT_BODY, stream=True), headers={"X-Request-Id": "e2e-req-0002"})
    chunks = [json.loads(e.data) for e in parse_sse(resp.body) if e.data != "[DONE]"]
    assert chunks and all(c["id"] == "chatcmpl-e2e-req-0002" for c in chunks), chunks

    resp = http.post("/v1/completions", {"model": MODEL, "prompt": "Hi", "max_tokens": 1},
                     headers={"X-Request-Id": "e2e-req-0003"})
    assert resp.json()["id"] == "cmpl-e2e-req-0003"


def test_request_id_generated_when_absent(http):
    a = http.post("/v1/chat/completions", CHAT_BODY)
    b = http.post("/v1/chat/completions", CHAT_BODY)
    assert a.json()["id"].startswith("chatcmpl-") and b.json()["id"].startswith("chatcmpl-")
    assert a.json()["id"] != b.json()["id"]
    assert a.header("X-Request-Id") and a.header("X-Request-Id") != b.header("X-Request-Id")


def test_shared_request_id_keeps_concurrent_requests_apart(http):
    """Two clients sending the same X-Request-Id at once (a fixed header, a retry) each get their own
    answer: the id is only echoed, the engine keys its KV blocks by an id of its own."""
    prompts = ["Name three colours.", "What is two plus two?"]
    bodies = [{"model": MODEL, "messages": [{"role": "user", "content": p}], "max_tokens": 24, "temperature": 0,
               "ignore_eos": True} for p in prompts]
    solo = [http.post("/v1/chat/completions", b).json()["choices"][0]["message"]["content"] for b in bodies]
    assert solo[0] != solo[1]
    results: list = [None, None]

    def send(i: int) -> None:
        results[i] = http.post("/v1/chat/completions", bodies[i], headers={"X-Request-Id": "e2e-shared"})

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, resp in enumerate(results):
        assert resp.status == 200, resp
        assert resp.json()["id"] == "chatcmpl-e2e-shared"
        assert resp.json()["choices"][0]["message"]["content"] == solo[i]


def test_kv_cache_smaller_than_the_context_limits_requests(openapi_doc):
    """With a KV cache that holds fewer tokens than the model's context, max_model_len is the cache's,
    a longer request is a 400 context_length_exceeded (not a 500 from the engine), and one that fits runs."""
    server = ServerProcess(["--kv-cache-memory", "4MiB"]).start()
    try:
        http = RawHTTP(server.url, SchemaChecker(json.loads(OPENAI_SCHEMAS.read_text()), openapi_doc), None)
        limit = http.get("/v1/models").json()["data"][0]["max_model_len"]
        assert 16 < limit < 8192, limit
        long_prompt = " ".join(["word"] * (limit + 10))
        error = assert_error(http.post("/v1/completions", {"model": MODEL, "prompt": long_prompt, "max_tokens": 1}),
                             400, code="context_length_exceeded")
        assert f"KV cache's {limit} tokens" in error["message"], error
        error = assert_error(http.post("/v1/chat/completions", {"model": MODEL, "messages": QUESTION, "max_tokens": limit}),
                             400, param="max_tokens", code="context_length_exceeded")
        ok = http.post("/v1/chat/completions", {"model": MODEL, "messages": QUESTION, "max_tokens": 4})
        assert ok.status == 200, ok
        assert "KV cache holds fewer tokens than the model's context" in server.log()
    finally:
        server.stop()


# --- streaming protocol on the wire --------------------------------------------------------------


def test_sse_wire_format(http):
    resp = http.post("/v1/chat/completions",
                     dict(CHAT_BODY, max_tokens=4, stream=True, stream_options={"include_usage": True}))
    assert resp.status == 200
    assert resp.content_type.startswith("text/event-stream"), resp.content_type
    assert resp.body.endswith(b"data: [DONE]\n\n"), resp.body[-100:]
    events = parse_sse(resp.body)
    assert events[-1].data == "[DONE]"
    assert all(e.event is None for e in events), "unexpected named events in a successful stream"
    chunks = [json.loads(e.data) for e in events[:-1]]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] >= 1
    assert chunks[0]["choices"][0]["delta"].get("role") == "assistant"
    assert sum(1 for c in chunks for ch in c["choices"] if ch["finish_reason"] is not None) == 1


# --- authentication (second server with two --api-key) ------------------------------------------


def test_health_is_503_while_loading(secured_server, schemas):
    # secured_server polled /health from the moment it could connect until it answered 200.
    seen = secured_server.health_seen
    assert seen and seen[-1][0] == 200, seen
    before = seen[:-1]
    assert before, "never saw the server loading (it answered 200 at once)"
    for status, body in before:
        assert status == 503, (status, body)
        schemas.check_response("GET", "/health", status, "application/json", body)
        assert json.loads(body) == {"status": "loading"}


AUTH_CASES = [
    ("no-header", None),
    ("wrong-key", "Bearer sk-wrong"),
    ("prefix-of-key", f"Bearer {API_KEYS[0][:-1]}"),
    ("key-plus-extra", f"Bearer {API_KEYS[0]}x"),
    ("not-bearer", f"Basic {API_KEYS[0]}"),
    ("empty-bearer", "Bearer "),
    ("key-without-scheme", API_KEYS[0]),
]


@pytest.mark.parametrize("authorization", [c[1] for c in AUTH_CASES], ids=[c[0] for c in AUTH_CASES])
@pytest.mark.parametrize("method,path,body", [
    ("GET", "/v1/models", None),
    ("POST", "/v1/chat/completions", CHAT_BODY),
    ("POST", "/tokenize", {"prompt": "hi"}),
])
def test_auth_rejected(secured_http, authorization, method, path, body):
    headers = {"Authorization": authorization} if authorization else {}
    resp = secured_http.request(method, path, body, headers=headers)
    error = assert_error(resp, 401)
    assert error["code"] == "invalid_api_key", error


@pytest.mark.parametrize("key", API_KEYS, ids=["flag-1", "flag-2", "file"])
def test_auth_accepted_for_each_key(secured_http, key):
    resp = secured_http.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert resp.status == 200, resp
    resp = secured_http.post("/tokenize", {"prompt": "hi"}, headers={"Authorization": f"Bearer {key}"})
    assert resp.status == 200, resp


def test_auth_scheme_is_case_insensitive(secured_http):
    # RFC 9110: the auth scheme is case-insensitive ("bearer" works like "Bearer").
    resp = secured_http.post("/v1/chat/completions", CHAT_BODY, headers={"Authorization": f"bearer {API_KEYS[1]}"})
    assert resp.status == 200, resp


def test_health_and_metrics_open_without_key(secured_http):
    assert secured_http.get("/health").status == 200
    resp = secured_http.get("/metrics")
    assert resp.status == 200 and b"moeserve:num_requests_running" in resp.body


# --- CORS ----------------------------------------------------------------------------------------


def test_cors_preflight(secured_http):
    resp = secured_http.request("OPTIONS", "/v1/chat/completions", headers={
        "Origin": CORS_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    })
    assert resp.status in (200, 204), resp  # a preflight carries no credentials: never 401
    assert resp.header("Access-Control-Allow-Origin") in (CORS_ORIGIN, "*"), resp.headers
    methods = [m.strip().upper() for m in (resp.header("Access-Control-Allow-Methods") or "").split(",")]
    assert "POST" in methods, resp.headers
    allowed = [h.strip().lower() for h in (resp.header("Access-Control-Allow-Headers") or "").split(",")]
    assert {"authorization", "content-type"} <= set(allowed), resp.headers


def test_cors_headers_on_actual_responses(secured_http):
    headers = {"Origin": CORS_ORIGIN, "Authorization": f"Bearer {API_KEYS[0]}"}
    ok = secured_http.get("/v1/models", headers=headers)
    assert ok.status == 200
    assert ok.header("Access-Control-Allow-Origin") == CORS_ORIGIN, ok.headers
    # Errors must carry it too, or the browser hides them from the page.
    denied = secured_http.get("/v1/models", headers={"Origin": CORS_ORIGIN})
    assert denied.status == 401
    assert denied.header("Access-Control-Allow-Origin") == CORS_ORIGIN, denied.headers


def test_cors_off_by_default(http):
    resp = http.get("/v1/models", headers={"Origin": "https://evil.example"})
    assert resp.status == 200
    assert resp.header("Access-Control-Allow-Origin") is None, resp.headers
    pre = http.request("OPTIONS", "/v1/chat/completions", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert pre.header("Access-Control-Allow-Origin") is None, pre.headers


def test_api_is_503_while_loading(secured_server, schemas):
    # While /health said "loading", secured_server also sent API requests (with a valid key).
    seen = secured_server.probes_seen
    assert any(p[2] == 503 for p in seen), f"no API request was answered 503 while the model was loading: {seen}"
    for method, path, status, content_type, body, health_after in seen:
        if status != 503:
            # Sent after a "loading" /health, answered after loading finished: then /health says ready.
            assert status == 200 and health_after == 200, (method, path, status, health_after, body)
            continue
        assert content_type.startswith("application/json"), content_type
        schemas.check_response(method, path, status, content_type, body)
        error = json.loads(body)["error"]
        assert error["message"], error


def test_content_encoding_when_offered(http):
    # Compression is optional; when the server uses it, the decoded body must be the same JSON.
    plain = http.get("/openapi.json", headers={"Accept-Encoding": "identity"})
    assert plain.header("Content-Encoding") in (None, "identity"), plain.headers
    packed = http.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert packed.header("Content-Encoding") in (None, "identity", "gzip"), packed.headers
    assert packed.json() == plain.json()
    if packed.header("Content-Encoding") == "gzip":
        assert len(packed.raw_body) < len(plain.raw_body)
        assert "accept-encoding" in (packed.header("Vary") or "").lower(), packed.headers
