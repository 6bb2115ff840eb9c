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

import json
import os
import re
from typing import Callable, Iterator

import openai
import pytest

# The suite's pieces live in e2e_*.py; the tests import them from here.
from e2e_http import Exchange, RawHTTP, Recorder, Response, assert_error, decode_content, validate_exchanges  # noqa: F401
from e2e_sse import SSEEvent, parse_sse  # noqa: F401
from e2e_schemas import SchemaChecker, SchemaError  # noqa: F401
from e2e_servers import ServerProcess, free_port, http_get  # noqa: F401
from e2e_settings import (  # noqa: F401
    API_KEY, BIN, MODEL, MODEL_PATH, OPENAI_SCHEMAS, QUESTION, REPO, TIMEOUT,
)

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
