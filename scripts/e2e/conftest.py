"""Shared fixtures of the end-to-end suite: the server(s), clients, raw HTTP and schema checks.

The suite talks to a running MoEServe over real sockets:

    MOESERVE_BASE_URL=http://127.0.0.1:18080/v1 .venv/bin/python -m pytest -q scripts/e2e

Environment:
    MOESERVE_BASE_URL    base URL including /v1 of the server under test. Without it, the suite
                         starts its own server from MOESERVE_BIN (and skips if that is unset).
    MOESERVE_BIN         the moeserve binary; needed by the tests that start a differently
                         configured server of their own (API keys, CORS).
    MOESERVE_MODEL_PATH  the .gguf those servers load (default: models/SmolLM2-135M-Instruct.Q4_1.gguf)
    MOESERVE_MODEL_ID    model id the server serves (default: smollm2-135m-instruct)
    MOESERVE_API_KEY     bearer token sent to the main server (default: a dummy; the openai
                         client refuses to start without one)
    MOESERVE_TIMEOUT     per-request timeout in seconds (default: 120)

Every response the tests receive, through the openai client or raw HTTP, is validated against
OpenAI's schema for it (Tests/Fixtures/openai/openai-schemas.json, where OpenAI has one) and
against the server's own /openapi.json, with JSON Schema Draft 2020-12.
"""

from __future__ import annotations

import copy
import http.client as httplib
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import jsonschema
import openai
import pytest
import referencing
from referencing.jsonschema import DRAFT202012

try:  # the openai package moved to a fork of httpx; either has the same transport API
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[2]
OPENAI_SCHEMAS = REPO / "Tests/Fixtures/openai/openai-schemas.json"

MODEL = os.environ.get("MOESERVE_MODEL_ID", "smollm2-135m-instruct")
API_KEY = os.environ.get("MOESERVE_API_KEY", "sk-moeserve-e2e")
TIMEOUT = float(os.environ.get("MOESERVE_TIMEOUT", "120"))
BIN = os.environ.get("MOESERVE_BIN", "")
MODEL_PATH = os.environ.get(
    "MOESERVE_MODEL_PATH", str(REPO / "models/SmolLM2-135M-Instruct.Q4_1.gguf")
)

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


# --- Schemas -----------------------------------------------------------------------------------


def _openapi30_to_jsonschema(node: Any) -> Any:
    """`nullable: true` (OpenAPI 3.0, still used in parts of OpenAI's spec) means "or null";
    JSON Schema ignores the keyword, so spell it out."""
    if isinstance(node, list):
        return [_openapi30_to_jsonschema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi30_to_jsonschema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


def _pointer_escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class SchemaError(AssertionError):
    pass


class SchemaChecker:
    """Validates response bodies against OpenAI's schemas and against our /openapi.json."""

    OPENAI_URI = "urn:moeserve-e2e:openai"
    OURS_URI = "urn:moeserve-e2e:ours"

    def __init__(self, openai_doc: dict, our_doc: dict) -> None:
        self.openai_doc = _openapi30_to_jsonschema(openai_doc)
        # OpenAI describes streamed legacy completions with the same schema as the full response
        # ("both the streamed and non-streamed response objects share the same shape"), but its
        # `finish_reason` is a non-null string there, which no chunk before the last can satisfy
        # (OpenAI's API itself sends null). So stream chunks get a copy that also allows null
        # there, and nothing else changed.
        oa = self.openai_doc["components"]["schemas"]
        chunk = copy.deepcopy(oa["CreateCompletionResponse"])
        finish = chunk["properties"]["choices"]["items"]["properties"]["finish_reason"]
        chunk["properties"]["choices"]["items"]["properties"]["finish_reason"] = {
            "anyOf": [finish, {"type": "null"}]
        }
        oa["CreateCompletionResponseStreamed"] = chunk
        self.our_doc = our_doc
        self.registry = referencing.Registry().with_resources(
            [
                (self.OPENAI_URI, DRAFT202012.create_resource(self.openai_doc)),
                (self.OURS_URI, DRAFT202012.create_resource(self.our_doc)),
            ]
        )
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}
        # Our path templates, longest first so /v1/models/{model} wins over /v1/models.
        self._paths: list[tuple[re.Pattern[str], str]] = []
        for template in sorted(our_doc.get("paths", {}), key=len, reverse=True):
            regex = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
            self._paths.append((re.compile(regex), template))
        self.checked = 0  # bodies validated, for the curious

    def _validate(self, uri: str, instance: Any, what: str) -> None:
        validator = self._validators.get(uri)
        if validator is None:
            validator = jsonschema.Draft202012Validator({"$ref": uri}, registry=self.registry)
            self._validators[uri] = validator
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [f"{what} does not validate against {uri}:"]
            for err in errors[:8]:
                path = "/".join(str(p) for p in err.absolute_path) or "(root)"
                lines.append(f"  at {path}: {err.message[:300]}")
            lines.append(f"  instance: {json.dumps(instance)[:1500]}")
            raise SchemaError("\n".join(lines))
        self.checked += 1

    def openai(self, name: str, instance: Any, what: str = "body") -> None:
        self._validate(f"{self.OPENAI_URI}#/components/schemas/{name}", instance, f"{what} (OpenAI {name})")

    def ours(self, name: str, instance: Any, what: str = "body") -> None:
        self._validate(f"{self.OURS_URI}#/components/schemas/{name}", instance, f"{what} (our {name})")

    def template_of(self, path: str) -> str | None:
        path = path.split("?", 1)[0]
        for regex, template in self._paths:
            if regex.match(path):
                return template
        return None

    # The OpenAI schema that a body on this path/status must satisfy, if OpenAI has one.
    @staticmethod
    def openai_schema_for(template: str | None, status: int, stream: bool) -> str | None:
        if template == "/health":
            return None  # not an OpenAI endpoint; its 503 body is our Health object
        if status >= 400:
            return "ErrorResponse"
        if status != 200:
            return None
        return {
            ("/v1/chat/completions", False): "CreateChatCompletionResponse",
            ("/v1/chat/completions", True): "CreateChatCompletionStreamResponse",
            ("/v1/completions", False): "CreateCompletionResponse",
            ("/v1/completions", True): "CreateCompletionResponseStreamed",
            ("/v1/models", False): "ListModelsResponse",
            ("/v1/models/{model}", False): "Model",
        }.get((template or "", stream))

    def check_response(
        self, method: str, path: str, status: int, content_type: str, body: bytes
    ) -> None:
        """Validates one complete HTTP response. Raises SchemaError (an AssertionError)."""
        what = f"{method} {path} -> {status}"
        media = content_type.split(";", 1)[0].strip().lower()
        template = self.template_of(path)
        operation = None
        if template is not None:
            operation = self.our_doc["paths"][template].get(method.lower())
        if method.upper() == "OPTIONS" or status in (204, 304) or (method.upper() == "HEAD"):
            return  # no body to check (CORS preflight, HEAD)

        stream = media == "text/event-stream"
        if operation is not None:
            responses = operation.get("responses", {})
            if str(status) not in responses:
                raise SchemaError(f"{what}: status {status} is not documented in /openapi.json "
                                  f"(documented: {sorted(responses)})")
            content = responses[str(status)].get("content", {})
            if media not in content:
                raise SchemaError(f"{what}: media type {media!r} is not documented in /openapi.json "
                                  f"for this status (documented: {sorted(content)})")
            our_pointer = "/".join(
                ["#/paths", _pointer_escape(template), method.lower(), "responses", str(status),
                 "content", _pointer_escape(media), "schema"]
            )
        else:
            # Unknown route or method: the body must still be our error shape.
            if status < 400:
                raise SchemaError(f"{what}: success on a route /openapi.json does not describe")
            if media != "application/json":
                raise SchemaError(f"{what}: error body is {media!r}, not application/json")
            our_pointer = "#/components/schemas/ErrorResponse"

        openai_name = self.openai_schema_for(template if operation else None, status, stream)
        if operation is None and status >= 400:
            openai_name = "ErrorResponse"

        if media == "application/json":
            try:
                instance = json.loads(body)
            except ValueError as err:
                raise SchemaError(f"{what}: body is not JSON ({err}): {body[:300]!r}") from None
            self._validate(self.OURS_URI + our_pointer, instance, f"{what} body (our /openapi.json)")
            if openai_name:
                self.openai(openai_name, instance, f"{what} body")
        elif stream:
            events = parse_sse(body)
            for i, event in enumerate(events):
                if event.data == "[DONE]":
                    continue
                try:
                    instance = json.loads(event.data)
                except ValueError as err:
                    raise SchemaError(f"{what}: SSE event {i} is not JSON ({err}): {event.data[:300]!r}") from None
                label = f"{what} SSE event {i}"
                if isinstance(instance, dict) and "error" in instance:
                    self.ours("ErrorResponse", instance, label)
                    self.openai("ErrorResponse", instance, label)
                    continue
                # Our document describes the stream as a string whose events are these objects.
                ours = {"/v1/chat/completions": "CreateChatCompletionStreamResponse",
                        "/v1/completions": "CreateCompletionResponse"}[template]
                self.ours(ours, instance, label)
                if openai_name:
                    self.openai(openai_name, instance, label)
        else:
            # text/plain (/metrics) and the like: documented media type is all there is to check.
            pass


@dataclass
class SSEEvent:
    data: str
    event: str | None = None


def parse_sse(body: bytes | str, complete_only: bool = True) -> list[SSEEvent]:
    """Splits a text/event-stream body into events (data lines joined by newlines).

    With complete_only, a trailing event without its terminating blank line is dropped (a
    stream that was cut off)."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = text.split("\n\n")
    if complete_only and not text.endswith("\n\n"):
        blocks = blocks[:-1]
    events = []
    for block in blocks:
        data_lines, event = [], None
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "data":
                data_lines.append(value)
            elif name == "event":
                event = value
        if data_lines:
            events.append(SSEEvent("\n".join(data_lines), event))
    return events


# --- Raw HTTP ------------------------------------------------------------------------------------


def decode_content(body: bytes, encoding: str) -> bytes:
    """Undoes a Content-Encoding (gzip or deflate; what the clients here offer)."""
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompress(body, wbits=16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, wbits=-zlib.MAX_WBITS)
    raise SchemaError(f"unexpected Content-Encoding {encoding!r}")


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    method: str = ""
    path: str = ""
    raw_body: bytes = b""  # on the wire; `body` has any Content-Encoding undone

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.header("Content-Type") or ""

    def events(self) -> list[SSEEvent]:
        return parse_sse(self.body)

    def __repr__(self) -> str:
        return f"<{self.method} {self.path} -> {self.status} {self.body[:500]!r}>"


class RawHTTP:
    """http.client wrapper: any method, any bytes, every response validated against the schemas."""

    def __init__(self, server_url: str, schemas: SchemaChecker, api_key: str | None) -> None:
        parts = urlsplit(server_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.schemas = schemas
        self.api_key = api_key

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        auth: bool = True,
        validate: bool = True,
        timeout: float = TIMEOUT,
    ) -> Response:
        send_headers: dict[str, str] = {}
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode("utf-8")
        if body is not None:
            send_headers["Content-Type"] = "application/json"
        if auth and self.api_key:
            send_headers["Authorization"] = f"Bearer {self.api_key}"
        send_headers.update(headers or {})
        conn = httplib.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=send_headers)
            resp = conn.getresponse()
            data = resp.read()
            result = Response(resp.status, resp.getheaders(), data, method, path)
            result.raw_body = data
            result.body = decode_content(data, result.header("Content-Encoding") or "")
        finally:
            conn.close()
        if validate:
            self.schemas.check_response(method, path, result.status, result.content_type, result.body)
        return result

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Response:
        return self.request("POST", path, body, **kw)


def assert_error(resp: Response, status: int, param: Any = ..., code: Any = ...) -> dict:
    """Asserts an OpenAI-shaped error with this status (and param/code when given)."""
    assert resp.status == status, f"expected {status}, got {resp!r}"
    assert (resp.content_type or "").startswith("application/json"), resp.headers
    payload = resp.json()
    assert set(payload) == {"error"}, payload
    error = payload["error"]
    assert {"message", "type", "param", "code"} <= set(error), error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    assert isinstance(error["type"], str) and error["type"], error
    if param is not ...:
        if callable(param):
            assert param(error["param"]), f"unexpected param {error['param']!r}: {error}"
        else:
            assert error["param"] == param, f"expected param {param!r}: {error}"
    if code is not ...:
        assert error["code"] == code, f"expected code {code!r}: {error}"
    return error


# --- Recording transport for the openai client -------------------------------------------------


@dataclass
class Exchange:
    method: str
    path: str
    status: int
    content_type: str
    content_encoding: str = ""
    body: bytes = b""  # as received on the wire (before any Content-Encoding is undone)
    complete: bool = False

    def decoded_body(self) -> bytes:
        return decode_content(self.body, self.content_encoding)


class _TeeStream(httpx.SyncByteStream):
    def __init__(self, inner: Any, exchange: Exchange) -> None:
        self._inner, self._exchange, self._chunks = inner, exchange, []

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._chunks.append(chunk)
            yield chunk
        self._exchange.complete = True

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._exchange.body = b"".join(self._chunks)


class _AsyncTeeStream(httpx.AsyncByteStream):
    def __init__(self, inner: Any, exchange: Exchange) -> None:
        self._inner, self._exchange, self._chunks = inner, exchange, []

    async def __aiter__(self):
        async for chunk in self._inner:
            self._chunks.append(chunk)
            yield chunk
        self._exchange.complete = True

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._exchange.body = b"".join(self._chunks)


class Recorder:
    """Keeps every response the openai client receives, to validate them after each test."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def _record(self, request: Any, response: Any) -> Exchange:
        ex = Exchange(
            request.method,
            request.url.raw_path.decode("ascii"),
            response.status_code,
            response.headers.get("content-type", ""),
            response.headers.get("content-encoding", ""),
        )
        self.exchanges.append(ex)
        return ex

    def transport(self) -> httpx.BaseTransport:
        recorder = self

        class Transport(httpx.BaseTransport):
            def __init__(self) -> None:
                self._inner = httpx.HTTPTransport()

            def handle_request(self, request: Any) -> Any:
                response = self._inner.handle_request(request)
                ex = recorder._record(request, response)
                return httpx.Response(
                    response.status_code,
                    headers=response.headers,
                    stream=_TeeStream(response.stream, ex),
                    extensions=response.extensions,
                )

            def close(self) -> None:
                self._inner.close()

        return Transport()

    def async_transport(self) -> httpx.AsyncBaseTransport:
        recorder = self

        class Transport(httpx.AsyncBaseTransport):
            def __init__(self) -> None:
                self._inner = httpx.AsyncHTTPTransport()

            async def handle_async_request(self, request: Any) -> Any:
                response = await self._inner.handle_async_request(request)
                ex = recorder._record(request, response)
                return httpx.Response(
                    response.status_code,
                    headers=response.headers,
                    stream=_AsyncTeeStream(response.stream, ex),
                    extensions=response.extensions,
                )

            async def aclose(self) -> None:
                await self._inner.aclose()

        return Transport()

    def drain(self) -> list[Exchange]:
        out, self.exchanges = self.exchanges, []
        return out


def validate_exchanges(schemas: SchemaChecker, exchanges: list[Exchange]) -> None:
    failures = []
    for ex in exchanges:
        # A stream the test stopped reading early: parse_sse checks the events that arrived whole.
        try:
            schemas.check_response(ex.method, ex.path, ex.status, ex.content_type, ex.decoded_body())
        except SchemaError as err:
            failures.append(str(err))
    if failures:
        raise SchemaError("responses received by the openai client failed schema validation:\n"
                          + "\n".join(failures))


# --- Servers -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = httplib.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/")
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@dataclass
class ServerProcess:
    """A moeserve started by the tests, on a free loopback port, in a scratch directory (so no
    config/moeserve.yaml is picked up: everything it needs is on the command line)."""

    args: list[str]
    model_path: str = MODEL_PATH
    model_id: str = MODEL
    url: str = ""
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    # While loading, each /health poll is followed by these API requests (method, path, body),
    # to see what the API answers before the model is ready.
    probes: list[tuple[str, str, Any]] = field(default_factory=list)
    probe_headers: dict[str, str] = field(default_factory=dict)
    health_seen: list[tuple[int, bytes]] = field(default_factory=list)
    probes_seen: list[tuple[str, str, int, str, bytes]] = field(default_factory=list)
    _tmp: Any = None
    final_log: str = ""  # the whole server log, kept by stop()

    def start(self, ready_timeout: float = 120.0) -> "ServerProcess":
        if not BIN:
            pytest.skip("MOESERVE_BIN not set: cannot start a server of our own")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._tmp = tempfile.TemporaryDirectory(prefix="moeserve-e2e-")
        self.log_path = Path(self._tmp.name) / "server.log"
        cmd = [BIN, "serve", "--host", "127.0.0.1", "--port", str(port),
               "--model", self.model_path, "--model-id", self.model_id, *self.args]
        # The server reads MOESERVE_* settings from the environment (MOESERVE_API_KEY would turn
        # on auth); this one is configured by its command line alone.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOESERVE_")}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self._tmp.name, env=env)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                status, body = http_get(self.url + "/health")
            except OSError:
                time.sleep(0.02)
                continue
            self.health_seen.append((status, body))
            if status == 200:
                return self
            for method, path, payload in self.probes:
                self._probe(method, path, payload)
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"server not healthy after {ready_timeout} s:\n{self.log()}")

    def _probe(self, method: str, path: str, payload: Any) -> None:
        parts = urlsplit(self.url)
        conn = httplib.HTTPConnection(parts.hostname, parts.port, timeout=5)
        try:
            data = None if payload is None else json.dumps(payload).encode()
            headers = dict(self.probe_headers)
            if data is not None:
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            self.probes_seen.append((method, path, resp.status, resp.getheader("Content-Type") or "", resp.read()))
        except OSError:
            pass
        finally:
            conn.close()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:] if self.log_path else ""
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log_path is not None and self.log_path.exists():
            self.final_log = self.log_path.read_text(errors="replace")
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


# --- Fixtures ------------------------------------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The disconnect tests go last: if an abort fails, the long request they started keeps the
    # engine busy for a while and would slow every test after it.
    items.sort(key=lambda item: item.module.__name__ == "test_disconnect" if item.module else False)



@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """Root URL (no /v1) of the server under test."""
    base = os.environ.get("MOESERVE_BASE_URL", "").rstrip("/")
    if base:
        yield base[: -len("/v1")] if base.endswith("/v1") else base
        return
    if not BIN:
        pytest.skip("set MOESERVE_BASE_URL (e.g. http://127.0.0.1:18080/v1) or MOESERVE_BIN")
    server = ServerProcess([]).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def base_url(server_url: str) -> str:
    return server_url + "/v1"


@pytest.fixture(scope="session")
def openapi_doc(server_url: str) -> dict:
    status, body = http_get(server_url + "/openapi.json", timeout=TIMEOUT)
    assert status == 200, (status, body[:300])
    return json.loads(body)


@pytest.fixture(scope="session")
def schemas(openapi_doc: dict) -> SchemaChecker:
    return SchemaChecker(json.loads(OPENAI_SCHEMAS.read_text()), openapi_doc)


@pytest.fixture(scope="session")
def http(server_url: str, schemas: SchemaChecker) -> RawHTTP:
    return RawHTTP(server_url, schemas, API_KEY)


@pytest.fixture(scope="session")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(autouse=True)
def _validate_client_responses(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test, validates every response the openai clients received during it."""
    if "recorder" not in request.fixturenames:
        yield
        return
    recorder: Recorder = request.getfixturevalue("recorder")
    schemas: SchemaChecker = request.getfixturevalue("schemas")
    recorder.drain()
    yield
    validate_exchanges(schemas, recorder.drain())


@pytest.fixture(scope="session")
def make_client(recorder: Recorder) -> Callable[..., openai.OpenAI]:
    def make(base_url: str, api_key: str = API_KEY) -> openai.OpenAI:
        # No retries: a retried failure would hide flakiness and slow the suite.
        return openai.OpenAI(
            base_url=base_url, api_key=api_key, max_retries=0, timeout=TIMEOUT,
            http_client=openai.DefaultHttpxClient(transport=recorder.transport()),
        )

    return make


@pytest.fixture(scope="session")
def make_async_client(recorder: Recorder) -> Callable[..., openai.AsyncOpenAI]:
    def make(base_url: str, api_key: str = API_KEY) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key, max_retries=0, timeout=TIMEOUT,
            http_client=openai.DefaultAsyncHttpxClient(transport=recorder.async_transport()),
        )

    return make


@pytest.fixture(scope="session")
def client(make_client: Callable[..., openai.OpenAI], base_url: str) -> openai.OpenAI:
    return make_client(base_url)


# Keys and origin of the second server (see `secured_server`): two given with --api-key and one
# read from an --api-key-file.
FLAG_KEYS = ("sk-e2e-first", "sk-e2e-second")
FILE_KEY = "sk-e2e-from-file"
API_KEYS = FLAG_KEYS + (FILE_KEY,)
CORS_ORIGIN = "https://app.example"


@pytest.fixture(scope="session")
def secured_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One extra server for everything that needs another configuration: API keys (two
    --api-key and an --api-key-file) and a --cors-origin. Started once for the session (a model
    load is a second or two)."""
    key_file = tmp_path_factory.mktemp("keys") / "api-keys.txt"
    key_file.write_text(f"# e2e keys\n\n{FILE_KEY}\n")
    args = []
    for key in FLAG_KEYS:
        args += ["--api-key", key]
    args += ["--api-key-file", str(key_file), "--cors-origin", CORS_ORIGIN]
    server = ServerProcess(
        args,
        probes=[("GET", "/v1/models", None),
                ("POST", "/v1/chat/completions", {"model": MODEL, "messages": QUESTION, "max_tokens": 1})],
        probe_headers={"Authorization": f"Bearer {API_KEYS[0]}"},
    ).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def secured_http(secured_server: ServerProcess, openapi_doc: dict) -> RawHTTP:
    # Same binary, same /openapi.json; validates against the main server's document.
    checker = SchemaChecker(json.loads(OPENAI_SCHEMAS.read_text()), openapi_doc)
    return RawHTTP(secured_server.url, checker, None)


@pytest.fixture(scope="session")
def max_model_len(http: RawHTTP) -> int:
    data = http.get(f"/v1/models/{MODEL}").json()
    return int(data["max_model_len"])


# --- Metrics --------------------------------------------------------------------------------------


def metric_value(text: str, name: str, labels: dict[str, str] | None = None) -> float | None:
    """The value of one sample in Prometheus text exposition, or None if absent."""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if labels is None or all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


def requests_running(http: RawHTTP) -> float:
    resp = http.get("/metrics")
    assert resp.status == 200, resp
    value = metric_value(resp.body.decode(), "moeserve:num_requests_running", {"model_name": MODEL})
    assert value is not None, "no moeserve:num_requests_running{model_name=...} sample in /metrics"
    return value
