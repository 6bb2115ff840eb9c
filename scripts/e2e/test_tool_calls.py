"""Tool calls through the official client: forced calls (`tool_choice` "required" or a named function) on the
default model, whose chat template has no tool-call format (so `auto` is a clear 400), and a multi-turn
conversation that carries the calls and their results back.
"""

from __future__ import annotations

import json

import jsonschema
import openai
import pytest

from conftest import MODEL

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"],
                       "additionalProperties": False},
    },
}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in (WEATHER, TIME)}


def _check_calls(message, names=None):
    assert message.tool_calls, message
    for call in message.tool_calls:
        assert call.type == "function" and call.id.startswith("call_")
        assert call.function.name in SCHEMAS
        if names:
            assert call.function.name in names
        jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])


def test_named_function_is_called(client):
    reply = client.chat.completions.create(
        model=MODEL, messages=ASK, tools=[WEATHER, TIME], temperature=0, max_tokens=100,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    _check_calls(choice.message, names={"get_weather"})
    assert len(choice.message.tool_calls) == 1


@pytest.mark.parametrize("parallel", [True, False])
def test_required_calls_follow_the_schemas(client, parallel):
    reply = client.chat.completions.create(
        model=MODEL, messages=ASK, tools=[WEATHER, TIME], tool_choice="required", parallel_tool_calls=parallel,
        temperature=0.7, seed=5, n=2, max_tokens=200,
    )
    for choice in reply.choices:
        if choice.finish_reason == "length":
            continue
        assert choice.finish_reason == "tool_calls", choice
        _check_calls(choice.message)
        if not parallel:
            assert len(choice.message.tool_calls) == 1


def test_streamed_calls_accumulate_like_openais(client):
    stream = client.chat.completions.create(
        model=MODEL, messages=ASK, tools=[WEATHER], tool_choice="required", temperature=0, max_tokens=100, stream=True,
    )
    calls, finish = {}, None
    for chunk in stream:
        for c in chunk.choices:
            for d in c.delta.tool_calls or []:
                entry = calls.setdefault(d.index, {"name": "", "arguments": ""})
                entry["name"] += d.function.name or ""
                entry["arguments"] += d.function.arguments or ""
            finish = c.finish_reason or finish
    assert finish == "tool_calls"
    assert calls and all(c["name"] == "get_weather" for c in calls.values())
    for c in calls.values():
        jsonschema.validate(json.loads(c["arguments"]), SCHEMAS["get_weather"])


def test_auto_needs_a_tool_call_format(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER], max_tokens=10)
    assert e.value.body["param"] == "tool_choice"


def test_tool_choice_none_answers_in_text(client):
    reply = client.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER], tool_choice="none", temperature=0,
                                           max_tokens=20)
    assert reply.choices[0].message.tool_calls is None
    assert reply.choices[0].message.content


def test_a_round_trip_with_the_results(client):
    first = client.chat.completions.create(
        model=MODEL, messages=ASK, tools=[WEATHER], temperature=0, max_tokens=100,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    call = first.choices[0].message.tool_calls[0]
    messages = ASK + [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temperature": 18, "sky": "sunny"})},
    ]
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER], tool_choice="none",
                                            temperature=0, max_tokens=20)
    assert second.choices[0].finish_reason in ("stop", "length")
    assert second.choices[0].message.content
