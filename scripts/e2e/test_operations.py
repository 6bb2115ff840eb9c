"""Operations, against servers of the tests' own: JSON logs (--log-format json), and the
SIGTERM drain with and without its deadline (--shutdown-timeout).

Drain: after SIGTERM, /health and new API requests answer 503 while requests in flight go on;
they finish, or at the deadline end with finish_reason "abort" (a stream gets its final chunk and
[DONE]); then the process exits 0.
"""

from __future__ import annotations

import http.client as httplib
import json
import signal
import threading
import time
from urllib.parse import urlsplit

import pytest

from conftest import MODEL, QUESTION, ServerProcess, http_get, metric_value, parse_sse

SECRET = "zebra-violet-prompt-marker"


def _post(url: str, path: str, body: dict, headers: dict | None = None, timeout: float = 60) -> tuple[int, dict, bytes]:
    parts = urlsplit(url)
    conn = httplib.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("POST", path, body=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


class Background:
    """One request on another thread; `result()` waits for it."""

    def __init__(self, fn) -> None:
        self.value = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn) -> None:
        try:
            self.value = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised in result()
            self.error = e

    def result(self, timeout: float = 60):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "request did not end"
        if self.error:
            raise self.error
        return self.value


def _running(url: str) -> float:
    status, body = http_get(url + "/metrics")
    assert status == 200
    return metric_value(body.decode(), "moeserve:num_requests_running", {"model_name": MODEL}) or 0


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def _finish_reasons(body: bytes) -> tuple[list[str], list[str]]:
    events = [e.data for e in parse_sse(body)]
    reasons = []
    for data in events:
        if data == "[DONE]":
            continue
        for choice in json.loads(data).get("choices", []):
            if choice.get("finish_reason"):
                reasons.append(choice["finish_reason"])
    return reasons, events


def _sigterm_and_check_drain(server: ServerProcess) -> None:
    """Sends SIGTERM and checks the draining answers: /health 503 'draining', new requests 503."""
    server.proc.send_signal(signal.SIGTERM)

    def draining() -> bool:
        try:
            status, body = http_get(server.url + "/health")
        except OSError:
            return False
        return status == 503 and json.loads(body).get("status") == "draining"

    _wait(draining, 10, "/health to answer 503 draining")
    status, headers, body = _post(server.url, "/v1/chat/completions", {"model": MODEL, "messages": QUESTION, "max_tokens": 1})
    assert status == 503, body
    assert json.loads(body)["error"]["code"] == "service_unavailable"
    assert headers.get("retry-after") == "1"


def test_json_logs_access_line_with_request_id_and_no_prompt():
    server = ServerProcess(["--log-format", "json"]).start()
    try:
        body = {"model": MODEL, "messages": [{"role": "user", "content": f"Say {SECRET}"}], "max_tokens": 2}
        status, headers, _ = _post(server.url, "/v1/chat/completions", body, {"X-Request-Id": "e2e-json-log-1"})
        assert status == 200 and headers["x-request-id"] == "e2e-json-log-1"
        assert http_get(server.url + "/health")[0] == 200
    finally:
        server.stop()
    assert server.proc.returncode == 0, server.final_log
    records = []
    for line in server.final_log.splitlines():
        obj = json.loads(line)  # every line is one JSON object
        assert set(obj) == {"timestamp", "level", "label", "message", "metadata"}, line
        assert isinstance(obj["metadata"], dict)
        records.append(obj)
    access = [r for r in records if r["metadata"].get("request_id") == "e2e-json-log-1" and "status" in r["metadata"]]
    assert len(access) == 1, access
    meta = access[0]["metadata"]
    assert meta["path"] == "/v1/chat/completions" and meta["status"] == "200" and meta["method"] == "POST"
    assert float(meta["duration_ms"]) > 0
    health = [r for r in records if r["metadata"].get("path") == "/health" and "status" in r["metadata"]]
    assert health and all(r["metadata"]["request_id"] for r in health), "every request gets an id"
    assert SECRET not in server.final_log, "prompt text logged without --log-prompts"
    assert any(r["message"] == "ready" for r in records)


def test_log_prompts_flag_logs_the_prompt():
    server = ServerProcess(["--log-format", "json", "--log-prompts"]).start()
    try:
        body = {"model": MODEL, "messages": [{"role": "user", "content": f"Say {SECRET}"}], "max_tokens": 1}
        assert _post(server.url, "/v1/chat/completions", body, {"X-Request-Id": "e2e-prompt-1"})[0] == 200
    finally:
        server.stop()
    prompts = [json.loads(l) for l in server.final_log.splitlines() if SECRET in l]
    assert prompts and prompts[0]["message"] == "prompt" and prompts[0]["metadata"]["request_id"] == "e2e-prompt-1"


def test_sigterm_lets_requests_in_flight_finish():
    server = ServerProcess(["--shutdown-timeout", "60"]).start()
    try:
        body = {"model": MODEL, "messages": QUESTION, "max_tokens": 24, "ignore_eos": True, "temperature": 0, "stream": True}
        stream = Background(lambda: _post(server.url, "/v1/chat/completions", body))
        _wait(lambda: _running(server.url) == 1, 20, "the request to run")
        started = time.monotonic()
        _sigterm_and_check_drain(server)
        status, _, raw = stream.result()
        assert status == 200
        reasons, events = _finish_reasons(raw)
        assert reasons == ["length"] and events[-1] == "[DONE]", events[-3:]
        server.proc.wait(timeout=20)
        assert server.proc.returncode == 0, server.log()
        assert time.monotonic() - started < 30, "exited long before the 60 s deadline once idle"
    finally:
        server.stop()


def test_sigterm_deadline_aborts_requests_in_flight():
    server = ServerProcess(["--shutdown-timeout", "1"]).start()
    try:
        long = {"model": MODEL, "messages": QUESTION, "max_tokens": 2000, "ignore_eos": True, "temperature": 0}
        stream = Background(lambda: _post(server.url, "/v1/chat/completions", {**long, "stream": True}))
        whole = Background(lambda: _post(server.url, "/v1/chat/completions", long))
        _wait(lambda: _running(server.url) == 2, 20, "both requests to run")
        _sigterm_and_check_drain(server)

        status, _, raw = stream.result()
        assert status == 200
        reasons, events = _finish_reasons(raw)
        assert reasons == ["abort"], events[-3:]
        assert events[-1] == "[DONE]"

        status, _, raw = whole.result()
        assert status == 200, raw
        answer = json.loads(raw)
        assert answer["choices"][0]["finish_reason"] == "abort"
        assert 0 < answer["usage"]["completion_tokens"] < 2000

        server.proc.wait(timeout=20)
        assert server.proc.returncode == 0, server.log()
    finally:
        server.stop()
