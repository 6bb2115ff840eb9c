"""End-to-end checks of a running MoEServe server through the official `openai` client.

The server is started elsewhere (by CI or by hand); this file only talks to it:

    MOESERVE_BASE_URL=http://127.0.0.1:18080/v1 .venv/bin/python -m pytest scripts/e2e -q

Environment:
    MOESERVE_BASE_URL  base URL including /v1 (required; the tests skip without it)
    MOESERVE_MODEL     model id the server serves (default: smollm2-135m-instruct)
    MOESERVE_API_KEY   sent as the bearer token (default: a dummy; the openai client
                       refuses to start without one)
    MOESERVE_TIMEOUT   per-request timeout in seconds (default: 120; CPU inference
                       on a small CI machine can be slow)

Raw-HTTP checks use only urllib so the test venv needs nothing beyond openai and pytest.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import openai
import pytest

BASE_URL = os.environ.get("MOESERVE_BASE_URL", "").rstrip("/")
MODEL = os.environ.get("MOESERVE_MODEL", "smollm2-135m-instruct")
API_KEY = os.environ.get("MOESERVE_API_KEY", "sk-moeserve-e2e")
TIMEOUT = float(os.environ.get("MOESERVE_TIMEOUT", "120"))

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
MAX_TOKENS = 32

pytestmark = pytest.mark.skipif(
    not BASE_URL, reason="MOESERVE_BASE_URL not set (e.g. http://127.0.0.1:18080/v1)"
)


@pytest.fixture(scope="module")
def client() -> openai.OpenAI:
    # No retries: a retried failure would hide flakiness and slow the suite.
    return openai.OpenAI(base_url=BASE_URL, api_key=API_KEY, max_retries=0, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def non_streaming(client):
    # Shared by two tests: the streaming test compares against this content.
    return client.chat.completions.create(
        model=MODEL, messages=QUESTION, temperature=0, max_tokens=MAX_TOKENS
    )


def _post_raw(path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """POST body as-is and return (status, headers, body) even for 4xx/5xx."""
    req = urllib.request.Request(
        BASE_URL + path,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers), err.read()


def _assert_openai_error_body(raw: bytes) -> dict:
    payload = json.loads(raw)
    assert isinstance(payload, dict) and set(payload) >= {"error"}, payload
    error = payload["error"]
    assert isinstance(error, dict), payload
    assert isinstance(error.get("message"), str) and error["message"], payload
    assert isinstance(error.get("type"), str) and error["type"], payload
    # OpenAI always sends these two keys, null when not applicable.
    assert "param" in error, payload
    assert "code" in error, payload
    assert error["param"] is None or isinstance(error["param"], str), payload
    assert error["code"] is None or isinstance(error["code"], (str, int)), payload
    return error


def _header(headers: dict[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return ""


# --- (a) non-streaming --------------------------------------------------------


def test_chat_completion_non_streaming(non_streaming):
    resp = non_streaming
    assert resp.object == "chat.completion"
    assert isinstance(resp.id, str) and resp.id
    assert isinstance(resp.created, int)
    assert isinstance(resp.model, str) and resp.model
    assert len(resp.choices) == 1

    choice = resp.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str)
    assert "Paris" in choice.message.content, choice.message.content
    assert choice.finish_reason in {"stop", "length"}

    usage = resp.usage
    assert usage is not None
    for field in ("prompt_tokens", "completion_tokens", "total_tokens"):
        value = getattr(usage, field)
        # bool is an int subclass; a JSON true/false here would be a bug.
        assert isinstance(value, int) and not isinstance(value, bool), (field, value)
    assert usage.prompt_tokens > 0
    assert 0 < usage.completion_tokens <= MAX_TOKENS
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    if choice.finish_reason == "length":
        assert usage.completion_tokens == MAX_TOKENS


# --- (b) streaming --------------------------------------------------------------


def test_chat_completion_streaming_matches_non_streaming(client, non_streaming):
    stream = client.chat.completions.create(
        model=MODEL, messages=QUESTION, temperature=0, max_tokens=MAX_TOKENS, stream=True
    )
    chunks = list(stream)
    assert chunks, "stream produced no chunks"

    ids = set()
    pieces: list[str] = []
    finish_reasons: list[str] = []
    first_choice_seen = False
    for chunk in chunks:
        assert chunk.object == "chat.completion.chunk"
        assert isinstance(chunk.id, str) and chunk.id
        assert isinstance(chunk.created, int)
        assert isinstance(chunk.model, str) and chunk.model
        ids.add(chunk.id)
        # A chunk without choices is only legitimate as a trailing usage
        # chunk (stream_options.include_usage), which we did not ask for.
        assert len(chunk.choices) == 1, chunk
        choice = chunk.choices[0]
        assert choice.index == 0
        if not first_choice_seen:
            assert choice.delta.role == "assistant", chunk
            first_choice_seen = True
        if choice.delta.content is not None:
            assert isinstance(choice.delta.content, str)
            pieces.append(choice.delta.content)
        if choice.finish_reason is not None:
            finish_reasons.append(choice.finish_reason)

    assert len(ids) == 1, f"chunks carry different ids: {ids}"
    assert len(finish_reasons) == 1, finish_reasons
    assert finish_reasons[0] in {"stop", "length"}
    # The finish_reason belongs on the last chunk; nothing may follow it.
    assert chunks[-1].choices[0].finish_reason is not None

    expected = non_streaming.choices[0]
    assert "".join(pieces) == expected.message.content
    assert finish_reasons[0] == expected.finish_reason


# --- (c) models -----------------------------------------------------------------


def test_models_list_contains_served_model(client):
    models = client.models.list()
    ids = [m.id for m in models.data]
    assert MODEL in ids, ids
    for m in models.data:
        assert m.object == "model"


# --- (d), (e) errors --------------------------------------------------------------


def test_malformed_json_is_400_with_openai_error_shape():
    status, headers, body = _post_raw("/chat/completions", b"{bad json")
    assert status == 400, (status, body)
    assert _header(headers, "Content-Type").startswith("application/json"), headers
    _assert_openai_error_body(body)


def test_missing_messages_is_400_with_openai_error_shape():
    body = json.dumps({"model": MODEL}).encode()
    status, headers, raw = _post_raw("/chat/completions", body)
    assert status == 400, (status, raw)
    assert _header(headers, "Content-Type").startswith("application/json"), headers
    _assert_openai_error_body(raw)


def test_missing_messages_raises_bad_request_in_client(client):
    # The SDK rejects a call without `messages` before sending it (TypeError);
    # `omit` passes that check and is then dropped from the JSON body, so the
    # server really receives a request with no messages.
    with pytest.raises(openai.BadRequestError) as excinfo:
        client.chat.completions.create(model=MODEL, messages=openai.omit, max_tokens=1)
    assert excinfo.value.status_code == 400
