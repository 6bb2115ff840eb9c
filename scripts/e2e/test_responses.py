"""OpenAI's Responses API through the official client: whole and streamed answers (the SDK's own stream
accumulator checks the event order), `previous_response_id` chains, stored responses, structured output with
`responses.parse`, forced function calls and their outputs, logprobs, and clear 400s for what a text-only
server cannot do. Every body and stream event is also validated against OpenAI's `Response` and
`ResponseStreamEvent` schemas (conftest)."""

from __future__ import annotations

import json

import jsonschema
import openai
import pydantic
import pytest

from conftest import MODEL, assert_error
from test_tool_calls import WEATHER as CHAT_WEATHER

# The chat tests' function in the Responses API's flat form.
WEATHER = {"type": "function", **CHAT_WEATHER["function"], "strict": True}


def test_create_matches_the_chat_answer(client):
    question = "What is the capital of France?"
    response = client.responses.create(model=MODEL, input=question, temperature=0, max_output_tokens=40)
    chat = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": question}], temperature=0, max_tokens=40)
    assert response.status == "completed" and response.object == "response" and response.id.startswith("resp_")
    # The same prompt through the same template: the same greedy text.
    assert response.output_text == chat.choices[0].message.content
    assert "Paris" in response.output_text
    assert response.usage.input_tokens == chat.usage.prompt_tokens
    assert response.usage.output_tokens == chat.usage.completion_tokens
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens


def test_instructions_are_the_system_message(client):
    response = client.responses.create(model=MODEL, instructions="Answer in French.", input="Hello!", temperature=0, max_output_tokens=30)
    chat = client.chat.completions.create(
        model=MODEL, messages=[{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "Hello!"}],
        temperature=0, max_tokens=30,
    )
    assert response.output_text == chat.choices[0].message.content
    assert response.instructions == "Answer in French."


def test_stream_adds_up_to_the_final_response(client):
    with client.responses.stream(model=MODEL, input="Name three colors.", temperature=0, max_output_tokens=60) as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    whole = client.responses.create(model=MODEL, input="Name three colors.", temperature=0, max_output_tokens=60)
    assert final.status == whole.status
    assert "".join(deltas) == final.output_text == whole.output_text


def test_raw_stream_events_are_numbered_and_named(http):
    resp = http.post("/v1/responses", {"model": MODEL, "input": "Hi", "stream": True, "temperature": 0, "max_output_tokens": 8})
    assert resp.status == 200
    events = resp.events()
    payloads = [json.loads(e.data) for e in events]
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    assert all(e.event == p["type"] for e, p in zip(events, payloads))
    assert payloads[0]["type"] == "response.created" and payloads[-1]["type"] == "response.incomplete"
    assert payloads[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_previous_response_id_continues_the_conversation(client):
    first = client.responses.create(model=MODEL, input="My name is Ada. Say hello to me.", temperature=0, max_output_tokens=30)
    second = client.responses.create(model=MODEL, previous_response_id=first.id, input="What is my name?", temperature=0, max_output_tokens=30)
    # The chain equals the conversation sent in full.
    chat = client.chat.completions.create(
        model=MODEL, temperature=0, max_tokens=30,
        messages=[{"role": "user", "content": "My name is Ada. Say hello to me."},
                  {"role": "assistant", "content": first.output_text},
                  {"role": "user", "content": "What is my name?"}],
    )
    assert second.previous_response_id == first.id
    assert second.output_text == chat.choices[0].message.content
    assert second.usage.input_tokens == chat.usage.prompt_tokens


def test_stored_responses_are_retrieved_and_deleted(client, http):
    created = client.responses.create(model=MODEL, input="Hi", temperature=0, max_output_tokens=10, metadata={"run": "e2e"})
    got = client.responses.retrieve(created.id)
    assert got.id == created.id and got.output_text == created.output_text and got.metadata == {"run": "e2e"}
    items = client.responses.input_items.list(created.id)
    assert [(i.type, i.role, i.content[0].text) for i in items.data] == [("message", "user", "Hi")]
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    assert_error(http.post("/v1/responses", {"model": MODEL, "input": "x", "previous_response_id": created.id}), 404,
                 param="previous_response_id", code="previous_response_not_found")
    unstored = client.responses.create(model=MODEL, input="Hi", store=False, max_output_tokens=5)
    assert unstored.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)


class City(pydantic.BaseModel):
    name: str
    country: str
    population: int


def test_parse_follows_a_pydantic_model(client):
    parsed = client.responses.parse(model=MODEL, input="Describe Paris as JSON.", text_format=City, temperature=0, max_output_tokens=120)
    assert parsed.status == "completed"
    assert isinstance(parsed.output_parsed, City)


def test_forced_call_then_its_output(client):
    called = client.responses.create(model=MODEL, input="What is the weather in Paris?", tools=[WEATHER], temperature=0,
                                     tool_choice={"type": "function", "name": "get_weather"}, max_output_tokens=100)
    calls = [item for item in called.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather" and calls[0].call_id.startswith("call_")
    jsonschema.validate(json.loads(calls[0].arguments), WEATHER["parameters"])
    answer = client.responses.create(
        model=MODEL, previous_response_id=called.id, tools=[WEATHER], tool_choice="none", temperature=0, max_output_tokens=40,
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "22 C, sunny"}],
    )
    assert answer.status in ("completed", "incomplete") and answer.output_text


def test_streamed_required_calls(client):
    with client.responses.stream(model=MODEL, input="Weather in Oslo and Rome?", tools=[WEATHER], tool_choice="required",
                                 temperature=0, max_output_tokens=200) as stream:
        done = [e for e in stream if e.type == "response.function_call_arguments.done"]
        final = stream.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert calls and [c.arguments for c in calls] == [d.arguments for d in done]
    for c in calls:
        jsonschema.validate(json.loads(c.arguments), WEATHER["parameters"])


def test_logprobs_when_included(client):
    r = client.responses.create(model=MODEL, input="Hi", include=["message.output_text.logprobs"], top_logprobs=2,
                                temperature=0, max_output_tokens=6)
    part = r.output[0].content[0]
    assert len(part.logprobs) == r.usage.output_tokens
    assert "".join(lp.token for lp in part.logprobs) == part.text
    assert all(len(lp.top_logprobs) == 2 and lp.top_logprobs[0].logprob >= lp.top_logprobs[1].logprob for lp in part.logprobs)


@pytest.mark.parametrize("extra,param", [
    ({"background": True}, "background"),
    ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://example.com/a.png"}]}]}, "input[0].content[0].type"),
    ({"reasoning": {"effort": "high"}}, "reasoning"),
    ({"text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "string", "pattern": "(?<=a)b"}}}}, "text.format.schema.pattern"),
    ({"tools": [WEATHER]}, "tool_choice"),
    ({"max_output_tokens": 10 ** 6}, "max_output_tokens"),
])
def test_what_it_cannot_do_is_a_clear_400(http, extra, param):
    body = {"model": MODEL, "input": "Hi", **extra}
    assert_error(http.post("/v1/responses", body), 400, param=param)


def test_output_items_sent_back_as_input(client):
    """Managing the conversation by hand (as agent frameworks with `store=False` do): the previous output items go
    back in `input` as they came, followed by the call's output."""
    ask = [{"role": "user", "content": "What is the weather in Paris?"}]
    called = client.responses.create(model=MODEL, input=ask, tools=[WEATHER], tool_choice="required", temperature=0,
                                     max_output_tokens=100, store=False)
    call = next(item for item in called.output if item.type == "function_call")
    history = ask + [item.model_dump(exclude_none=True) for item in called.output]
    history.append({"type": "function_call_output", "call_id": call.call_id, "output": "22 C, sunny"})
    by_hand = client.responses.create(model=MODEL, input=history, tools=[WEATHER], tool_choice="none", temperature=0,
                                      max_output_tokens=40, store=False)
    # The same conversation as a chain of stored responses.
    stored = client.responses.create(model=MODEL, input=ask, tools=[WEATHER], tool_choice="required", temperature=0,
                                     max_output_tokens=100)
    stored_call = next(item for item in stored.output if item.type == "function_call")
    assert stored_call.arguments == call.arguments
    chained = client.responses.create(
        model=MODEL, previous_response_id=stored.id, tools=[WEATHER], tool_choice="none", temperature=0, max_output_tokens=40,
        input=[{"type": "function_call_output", "call_id": stored_call.call_id, "output": "22 C, sunny"}],
    )
    # The default model's template shows no call ids (they differ between the two runs): the same prompt, the same answer.
    assert by_hand.usage.input_tokens == chained.usage.input_tokens
    assert by_hand.output_text == chained.output_text
