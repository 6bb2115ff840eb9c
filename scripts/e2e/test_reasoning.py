"""Thinking models end to end: a tiny random-weight Qwen3 checkpoint (Tests/Fixtures/models/qwen3) served with a
chat template that opens a think block the way DeepSeek-R1's does (`<think>\\n` at the generation prompt, closed
at once when `enable_thinking` is false). Its 8 greedy tokens never close the block, so they are all reasoning;
with `enable_thinking` false they are all answer. On the default model, which does not think, nothing changes."""

from __future__ import annotations

import json
from typing import Iterator

import pytest

from conftest import MODEL, OPENAI_SCHEMAS, RawHTTP, SchemaChecker, ServerProcess, assert_error
from e2e_servers import tiny_qwen3_folder

THINKING = ("{{ bos_token }}{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}assistant: <think>\n{% if enable_thinking is defined and not enable_thinking %}</think>{% endif %}{% endif %}")


@pytest.fixture(scope="module")
def thinking(tmp_path_factory: pytest.TempPathFactory, openapi_doc: dict) -> Iterator[RawHTTP]:
    folder = tiny_qwen3_folder(tmp_path_factory.mktemp("thinking") / "qwen3", THINKING)
    server = ServerProcess([], model_path=str(folder), model_id="tiny-thinker").start()
    try:
        yield RawHTTP(server.url, SchemaChecker(json.loads(OPENAI_SCHEMAS.read_text()), openapi_doc), None)
    finally:
        server.stop()


# The checkpoint's greedy choice is <unk> (id 2), a special token whose text is skipped: biased away, its tokens
# are visible characters.
NO_UNK = {"2": -100}


def _chat(http: RawHTTP, **extra) -> dict:
    resp = http.post("/v1/chat/completions", {"model": "tiny-thinker", "messages": [{"role": "user", "content": "hi"}],
                                              "max_tokens": 8, "temperature": 0, "logit_bias": NO_UNK, **extra})
    assert resp.status == 200, resp
    return resp.json()


def test_unclosed_reasoning_is_all_reasoning(thinking: RawHTTP) -> None:
    body = _chat(thinking)
    message = body["choices"][0]["message"]
    assert message["content"] is None and message["reasoning_content"]
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == body["usage"]["completion_tokens"] == 8
    # Streamed, the same text arrives as reasoning_content deltas.
    resp = thinking.post("/v1/chat/completions", {"model": "tiny-thinker", "messages": [{"role": "user", "content": "hi"}],
                                                  "max_tokens": 8, "temperature": 0, "logit_bias": NO_UNK, "stream": True})
    deltas = [json.loads(e.data)["choices"][0]["delta"] for e in resp.events() if e.data != "[DONE]" and json.loads(e.data)["choices"]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == message["reasoning_content"]
    assert not any(d.get("content") for d in deltas)


def test_enable_thinking_false_makes_it_all_answer(thinking: RawHTTP) -> None:
    body = _chat(thinking, chat_template_kwargs={"enable_thinking": False})
    message = body["choices"][0]["message"]
    assert message["content"] and message["reasoning_content"] is None
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0
    resp = thinking.post("/v1/responses", {"model": "tiny-thinker", "input": "hi", "max_output_tokens": 8, "temperature": 0,
                                           "logit_bias": NO_UNK, "chat_template_kwargs": {"enable_thinking": False}})
    assert [item["type"] for item in resp.json()["output"]] == ["message"]


def test_a_response_format_waits_for_the_reasoning_to_end(thinking: RawHTTP) -> None:
    # 8 tokens never close the block: the grammar never applies, the end token cannot come, the answer is cut.
    body = _chat(thinking, response_format={"type": "json_object"})
    assert body["choices"][0]["finish_reason"] == "length" and body["choices"][0]["message"]["content"] is None


def test_responses_put_the_reasoning_in_its_own_item(thinking: RawHTTP) -> None:
    resp = thinking.post("/v1/responses", {"model": "tiny-thinker", "input": "hi", "max_output_tokens": 8, "temperature": 0,
                                           "logit_bias": NO_UNK})
    assert resp.status == 200, resp
    body = resp.json()
    # Cut short inside the reasoning: only the reasoning item, incomplete.
    assert [(item["type"], item["status"]) for item in body["output"]] == [("reasoning", "incomplete")]
    assert body["status"] == "incomplete"
    assert body["usage"]["output_tokens_details"]["reasoning_tokens"] == body["usage"]["output_tokens"] == 8
    assert body["output"][0]["content"][0]["text"] == _chat(thinking)["choices"][0]["message"]["reasoning_content"]


def test_a_model_that_does_not_think_is_unchanged(http: RawHTTP) -> None:
    ask = {"model": MODEL, "messages": [{"role": "user", "content": "What is the capital of France?"}], "max_tokens": 30, "temperature": 0}
    plain = http.post("/v1/chat/completions", ask).json()["choices"][0]["message"]
    assert "reasoning_content" not in plain
    # Template variables it does not read change nothing; the server's own cannot be replaced.
    varied = http.post("/v1/chat/completions", {**ask, "chat_template_kwargs": {"enable_thinking": False}}).json()["choices"][0]["message"]
    assert varied["content"] == plain["content"]
    assert_error(http.post("/v1/chat/completions", {**ask, "chat_template_kwargs": {"add_generation_prompt": False}}), 400,
                 param="chat_template_kwargs.add_generation_prompt")
