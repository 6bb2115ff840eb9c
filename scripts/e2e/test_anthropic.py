"""Anthropic's Messages API through Anthropic's own SDK (`anthropic`): whole and streamed messages, stop sequences,
a prefill, counting tokens, forced tool use and a tool round trip, structured output, thinking blocks (a tiny
random-weight Qwen3 with a thinking template), and errors in Anthropic's shape. Raw requests are validated against
/openapi.json like every other route's."""

from __future__ import annotations

import json
from typing import Iterator

import anthropic
import jsonschema
import pytest

from conftest import API_KEYS, MODEL, OPENAI_SCHEMAS, TIMEOUT, RawHTTP, SchemaChecker, ServerProcess
from e2e_servers import tiny_qwen3_folder

GREEDY = {"temperature": 0}
ASK = [{"role": "user", "content": "Count from 1 to 10, separated by commas."}]
WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
                     "required": ["city", "unit"], "additionalProperties": False},
}


@pytest.fixture(scope="module")
def claude(server_url: str) -> anthropic.Anthropic:
    # The SDK appends /v1/messages itself; no retries, so a failure is not hidden.
    return anthropic.Anthropic(base_url=server_url, api_key="unused", max_retries=0, timeout=TIMEOUT)


def _text(message) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


def test_whole_and_streamed_messages_agree(claude: anthropic.Anthropic) -> None:
    whole = claude.messages.create(model=MODEL, max_tokens=24, messages=ASK, extra_body=GREEDY)
    assert whole.type == "message" and whole.role == "assistant" and whole.model == MODEL and whole.id.startswith("msg_")
    assert whole.stop_reason in ("end_turn", "max_tokens") and _text(whole)
    with claude.messages.stream(model=MODEL, max_tokens=24, messages=ASK, extra_body=GREEDY) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(pieces) == _text(final) == _text(whole)
    assert final.stop_reason == whole.stop_reason and final.usage.output_tokens == whole.usage.output_tokens
    # The second request read the shared prompt from the prefix cache; the totals agree.
    assert final.usage.input_tokens + final.usage.cache_read_input_tokens == whole.usage.input_tokens + whole.usage.cache_read_input_tokens


def test_the_sdk_lists_the_served_model(claude: anthropic.Anthropic) -> None:
    (model,) = list(claude.models.list())
    assert model.id == MODEL and model.type == "model" and model.lifecycle == "active" and model.max_input_tokens > 0
    assert claude.models.retrieve(MODEL).id == MODEL
    with pytest.raises(anthropic.NotFoundError):
        claude.models.retrieve("not-served")


def test_a_stop_sequence_is_named(claude: anthropic.Anthropic) -> None:
    free = _text(claude.messages.create(model=MODEL, max_tokens=30, messages=ASK, extra_body=GREEDY))
    assert "4" in free, free
    stopped = claude.messages.create(model=MODEL, max_tokens=30, messages=ASK, extra_body=GREEDY, stop_sequences=["zzz", "4"])
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "4"
    assert _text(stopped) == free[: free.index("4")]


def test_a_prefill_is_continued(claude: anthropic.Anthropic) -> None:
    messages = [{"role": "user", "content": "What is the capital of France?"}, {"role": "assistant", "content": "The capital of France is"}]
    reply = claude.messages.create(model=MODEL, max_tokens=8, messages=messages, extra_body=GREEDY)
    text = _text(reply)
    # The answer goes on from the prefill: it does not repeat it, nor start a new turn.
    assert text and not text.startswith("The capital") and "Paris" in text, text


def test_count_tokens_is_the_prompt_a_message_runs(claude: anthropic.Anthropic) -> None:
    system = "You answer in one word."
    counted = claude.messages.count_tokens(model=MODEL, system=system, messages=ASK).input_tokens
    used = claude.messages.create(model=MODEL, max_tokens=1, system=system, messages=ASK).usage
    assert counted == used.input_tokens + used.cache_read_input_tokens > 10
    with_tool = claude.messages.count_tokens(model=MODEL, system=system, messages=ASK, tools=[WEATHER]).input_tokens
    assert with_tool >= counted


def test_a_forced_tool_use_and_its_result(claude: anthropic.Anthropic) -> None:
    ask = [{"role": "user", "content": "What is the weather in Paris?"}]
    reply = claude.messages.create(model=MODEL, max_tokens=60, messages=ask, tools=[WEATHER],
                                   tool_choice={"type": "tool", "name": "get_weather"}, extra_body=GREEDY)
    assert reply.stop_reason == "tool_use"
    (call,) = [b for b in reply.content if b.type == "tool_use"]
    assert call.name == "get_weather" and call.id.startswith("toolu_")
    jsonschema.validate(call.input, WEATHER["input_schema"])
    # Streamed, the call arrives as input_json_delta pieces that add up to the same input.
    with claude.messages.stream(model=MODEL, max_tokens=60, messages=ask, tools=[WEATHER], tool_choice={"type": "any"},
                                extra_body=GREEDY) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use" and [b.type for b in final.content] == ["tool_use"]
    jsonschema.validate(final.content[0].input, WEATHER["input_schema"])
    # The result goes back as a tool_result block; the model answers in text.
    turn = ask + [{"role": "assistant", "content": reply.content},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18 C and sunny"}]}]
    answer = claude.messages.create(model=MODEL, max_tokens=20, messages=turn, tools=[WEATHER], tool_choice={"type": "none"}, extra_body=GREEDY)
    assert answer.stop_reason in ("end_turn", "max_tokens") and _text(answer)


def test_the_sdks_tool_runner_runs_its_loop(claude: anthropic.Anthropic) -> None:
    # The runner asks for a server-held thread first; refused in the way it reads, it goes on without one, sending
    # the whole conversation each turn.
    calls: list[str] = []

    @anthropic.beta_tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        calls.append(city)
        return "18 C and sunny"

    runner = claude.beta.messages.tool_runner(model=MODEL, max_tokens=40, messages=[{"role": "user", "content": "Weather in Paris?"}],
                                              tools=[get_weather], tool_choice={"type": "tool", "name": "get_weather"}, max_iterations=2,
                                              extra_body=GREEDY)
    replies = list(runner)
    assert len(replies) == 2 and len(calls) == 2, (replies, calls)
    assert all(r.stop_reason == "tool_use" and r.content[-1].type == "tool_use" for r in replies)


def test_output_config_format_is_followed(claude: anthropic.Anthropic) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}, "population": {"type": "integer"}},
              "required": ["city", "population"], "additionalProperties": False}
    reply = claude.messages.create(model=MODEL, max_tokens=60, messages=[{"role": "user", "content": "Describe Paris as JSON."}],
                                   output_config={"format": {"type": "json_schema", "schema": schema}}, extra_body=GREEDY)
    assert reply.stop_reason == "end_turn", reply
    jsonschema.validate(json.loads(_text(reply)), schema)


def test_errors_come_in_anthropics_shape(claude: anthropic.Anthropic, http: RawHTTP) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        claude.messages.create(model="not-served", max_tokens=5, messages=ASK)
    assert missing.value.body["error"]["type"] == "not_found_error" and MODEL in missing.value.body["error"]["message"]
    with pytest.raises(anthropic.BadRequestError) as image:
        claude.messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]}])
    assert image.value.body["error"]["type"] == "invalid_request_error" and "text only" in image.value.body["error"]["message"]
    # Raw requests: each answer is checked against /openapi.json (Anthropic's error shape there).
    for body, status in [({"model": MODEL, "messages": ASK}, 400), ({"model": MODEL, "max_tokens": 5, "messages": ASK, "temperature": 2}, 400),
                         ({"model": MODEL, "max_tokens": 5, "messages": [{"role": "tool", "content": "x"}]}, 400),
                         # A chat habit is never silently dropped: it is refused, naming what to send instead.
                         ({"model": MODEL, "max_tokens": 5, "messages": ASK, "stop": ["4"]}, 400)]:
        resp = http.post("/v1/messages", body)
        assert resp.status == status and resp.json()["type"] == "error", resp
    assert http.get("/v1/messages").status == 405
    # The SDK's tool runner asks for a server-held thread; the refusal says so the way the SDK reads it (it then goes
    # on without one), and every answer names its request as the SDK reads it.
    thread = http.post("/v1/messages", {"model": MODEL, "max_tokens": 5, "messages": ASK, "thread": {"type": "create"}})
    assert thread.status == 400 and thread.json()["error"]["details"]["error_code"] == "thread_unsupported_request"
    assert dict((k.lower(), v) for k, v in thread.headers)["request-id"].startswith("req_")
    assert http.post("/v1/messages/batches", {}).status == 404


def test_the_api_key_may_come_as_x_api_key(secured_server: ServerProcess) -> None:
    good = anthropic.Anthropic(base_url=secured_server.url, api_key=API_KEYS[0], max_retries=0, timeout=TIMEOUT)
    assert good.messages.count_tokens(model=MODEL, messages=ASK).input_tokens > 0
    bad = anthropic.Anthropic(base_url=secured_server.url, api_key="sk-wrong", max_retries=0, timeout=TIMEOUT)
    with pytest.raises(anthropic.AuthenticationError) as denied:
        bad.messages.count_tokens(model=MODEL, messages=ASK)
    assert denied.value.body["error"]["type"] == "authentication_error"


def test_the_servers_own_refusals_come_in_anthropics_shape(openapi_doc: dict) -> None:
    # A body over --max-body-bytes is refused before any handler runs; on Anthropic's routes, in Anthropic's shape.
    server = ServerProcess(["--max-body-bytes", "1024"]).start()
    try:
        http = RawHTTP(server.url, SchemaChecker(json.loads(OPENAI_SCHEMAS.read_text()), openapi_doc), None)
        big = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "x" * 4096}]}
        resp = http.post("/v1/messages", big)
        assert resp.status == 413 and resp.json()["error"]["type"] == "request_too_large", resp
        assert "error" in http.post("/v1/chat/completions", {"model": MODEL, "messages": big["messages"]}).json()
    finally:
        server.stop()


THINKING = ("{{ bos_token }}{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}assistant: <think>\n{% if enable_thinking is defined and not enable_thinking %}</think>{% endif %}{% endif %}")


@pytest.fixture(scope="module")
def thinker(tmp_path_factory: pytest.TempPathFactory, openapi_doc: dict) -> Iterator[tuple[anthropic.Anthropic, RawHTTP]]:
    folder = tiny_qwen3_folder(tmp_path_factory.mktemp("anthropic-thinking") / "qwen3", THINKING)
    server = ServerProcess([], model_path=str(folder), model_id="tiny-thinker").start()
    try:
        yield (anthropic.Anthropic(base_url=server.url, api_key="unused", max_retries=0, timeout=TIMEOUT),
               RawHTTP(server.url, SchemaChecker(json.loads(OPENAI_SCHEMAS.read_text()), openapi_doc), None))
    finally:
        server.stop()


# The checkpoint's greedy choice is <unk> (id 2), a special token whose text is skipped: biased away (a vLLM-style
# extension the Messages route takes too), its tokens are visible characters.
STEER = {"temperature": 0, "logit_bias": {"2": -100}}


def test_reasoning_comes_as_a_thinking_block(thinker: tuple[anthropic.Anthropic, RawHTTP]) -> None:
    claude, http = thinker
    ask = [{"role": "user", "content": "hi"}]
    whole = claude.messages.create(model="tiny-thinker", max_tokens=8, messages=ask, extra_body=STEER)
    # 8 tokens never close the block: all of it is thinking, cut short.
    assert [b.type for b in whole.content] == ["thinking"] and whole.content[0].thinking and whole.stop_reason == "max_tokens"
    with claude.messages.stream(model="tiny-thinker", max_tokens=8, messages=ask, extra_body=STEER) as stream:
        final = stream.get_final_message()
    assert final.content[0].thinking == whole.content[0].thinking
    # Thinking disabled: the template closes the block, all of it is text.
    off = claude.messages.create(model="tiny-thinker", max_tokens=8, messages=ask, thinking={"type": "disabled"}, extra_body=STEER)
    assert [b.type for b in off.content] == ["text"]
    # display "omitted": the block, without its text. Raw, so the stream is checked against /openapi.json too.
    resp = http.post("/v1/messages", {"model": "tiny-thinker", "max_tokens": 8, "messages": ask, "stream": True,
                                      "thinking": {"type": "adaptive", "display": "omitted"}, **STEER})
    events = [json.loads(e.data) for e in resp.events()]
    assert [e["type"] for e in events][:3] == ["message_start", "ping", "content_block_start"]
    assert events[2]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert not any(e["type"] == "content_block_delta" for e in events)
