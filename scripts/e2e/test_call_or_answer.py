"""tool_choice auto with a response format, and a response format on a model that opens its own think block: the
tiny random-weight Qwen3 checkpoint served with a Qwen3-like template (tools shown with the `<tool_call>` format;
the model opens `<think>` itself unless `enable_thinking` is false). The serving tokenizer has no marker tokens,
so `<tool_call>` and `<think>` are written in pieces, which share their first one. Logit biases steer the random
model: towards `<` (a marker) or away from it (the value)."""

from __future__ import annotations

import asyncio
import json
from typing import Iterator

import pydantic
import pytest
from agents import Agent, ModelSettings, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled

from conftest import OPENAI_SCHEMAS, RawHTTP, SchemaChecker, ServerProcess
from e2e_servers import tiny_qwen3_folder

TEMPLATE = ("{%- if tools %}<|im_start|>system\nTools:{% for t in tools %} {{ t.function.name }}{% endfor %}. "
            "Call as <tool_call>{\"name\": NAME, \"arguments\": ARGS}</tool_call><|im_end|>\n{% endif %}"
            "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|im_start|>assistant\n"
            "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}{% endif %}")

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                             "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                            "required": ["city"]}}}
SCHEMA = {"type": "object", "properties": {"t": {"type": "integer"}}, "required": ["t"]}
FORMAT = {"type": "json_schema", "json_schema": {"name": "reading", "schema": SCHEMA}}
NO_THINKING = {"enable_thinking": False}


@pytest.fixture(scope="module")
def qwen_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tiny_qwen3_folder(tmp_path_factory.mktemp("call-or-answer") / "qwen3", TEMPLATE)
    server = ServerProcess([], model_path=str(folder), model_id="tiny-qwen").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def qwen(qwen_server: ServerProcess, openapi_doc: dict) -> RawHTTP:
    return RawHTTP(qwen_server.url, SchemaChecker(json.loads(OPENAI_SCHEMAS.read_text()), openapi_doc), None)


def _ids(http: RawHTTP, text: str) -> list[int]:
    resp = http.post("/tokenize", {"model": "tiny-qwen", "prompt": text})
    assert resp.status == 200, resp
    return resp.json()["tokens"]


def _bias(http: RawHTTP, **by_text: float) -> dict[str, float]:
    # <unk> (id 2), the checkpoint's greedy choice, is a special token whose text is skipped: always out.
    bias = {"2": -100.0}
    for text, value in by_text.items():
        (token,) = _ids(http, {"lt": "<", "space": " ", "nl": "\n"}.get(text, text))
        bias[str(token)] = value
    return bias


def _chat(http: RawHTTP, bias: dict[str, float], **extra) -> dict:
    resp = http.post("/v1/chat/completions", {"model": "tiny-qwen", "messages": [{"role": "user", "content": "Weather in Rome?"}],
                                              "temperature": 0, "logit_bias": bias, "tools": [WEATHER],
                                              "response_format": FORMAT, **extra})
    assert resp.status == 200, resp
    return resp.json()["choices"][0]


def test_the_value_follows_the_schema_when_no_call_comes(qwen: RawHTTP) -> None:
    # No marker (and none of the whitespace the model favours): the schema's value, whole, then the end.
    choice = _chat(qwen, _bias(qwen, lt=-100, space=-100, nl=-100), max_tokens=60, chat_template_kwargs=NO_THINKING)
    assert choice["finish_reason"] == "stop", choice
    value = json.loads(choice["message"]["content"])
    assert set(value) == {"t"} and isinstance(value["t"], int), value
    assert choice["message"].get("tool_calls") is None


def test_a_call_in_the_models_format_may_come_instead(qwen: RawHTTP) -> None:
    # `<` then `o`: the tool-call marker, written whole; the grammar ends there. The random model's "call" that
    # follows does not parse, so it stays text, as without a response format.
    choice = _chat(qwen, _bias(qwen, lt=100, o=50), max_tokens=20, chat_template_kwargs=NO_THINKING)
    content = choice["message"]["content"]
    assert content.startswith("<tool_call>") and content != "<tool_call>" and choice["finish_reason"] == "length", choice


def test_a_think_block_the_model_opens_comes_before_the_value(qwen: RawHTTP) -> None:
    # `<` then `h`: the model opens a think block; the grammar waits for its end (never reached in 20 tokens), so
    # the output is all reasoning, and the end token cannot come.
    choice = _chat(qwen, _bias(qwen, lt=100, h=50), max_tokens=20)
    assert choice["message"]["content"] is None and choice["message"]["reasoning_content"], choice
    assert choice["finish_reason"] == "length"
    # With thinking turned off in the prompt, no block may open: the `h` piece cannot follow `<`.
    off = _chat(qwen, _bias(qwen, lt=100, h=50), max_tokens=20, chat_template_kwargs=NO_THINKING)
    assert off["message"]["content"].startswith("<tool_call>") and off["message"]["reasoning_content"] is None, off


def test_the_responses_api_takes_tools_and_a_format_together(qwen: RawHTTP) -> None:
    # What the Agents SDK sends for an agent with tools and an output type.
    tool = {"type": "function", **WEATHER["function"]}
    text = {"format": {"type": "json_schema", "name": "reading", "schema": SCHEMA}}
    resp = qwen.post("/v1/responses", {"model": "tiny-qwen", "input": "Weather in Rome?", "tools": [tool], "text": text,
                                       "temperature": 0, "max_output_tokens": 60, "chat_template_kwargs": NO_THINKING,
                                       "logit_bias": _bias(qwen, lt=-100, space=-100, nl=-100)})
    assert resp.status == 200, resp
    body = resp.json()
    assert body["status"] == "completed" and body["tool_choice"] == "auto", body
    (message,) = body["output"]
    assert set(json.loads(message["content"][0]["text"])) == {"t"}


class Reading(pydantic.BaseModel):
    t: int


def test_an_agent_with_tools_and_an_output_type_runs(qwen: RawHTTP, qwen_server: ServerProcess, make_async_client) -> None:
    set_tracing_disabled(True)

    @function_tool
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        return f"22 C in {city}"

    model = OpenAIResponsesModel(model="tiny-qwen", openai_client=make_async_client(qwen_server.url + "/v1"))
    settings = ModelSettings(temperature=0, max_tokens=60, extra_body={
        "logit_bias": _bias(qwen, lt=-100, space=-100, nl=-100), "chat_template_kwargs": NO_THINKING})
    agent = Agent(name="reader", model=model, tools=[get_weather], output_type=Reading, model_settings=settings)
    result = asyncio.run(Runner.run(agent, "Weather in Rome?"))
    assert isinstance(result.final_output, Reading)
