"""Speculative decoding by prompt lookup (`--speculative-tokens`, on by default), end to end: a server with it answers
exactly as one without it does -- text, logprobs, streamed chunks, seeded sampling -- and counts its drafts on
/metrics.
"""

from __future__ import annotations

import json
from typing import Iterator

import openai
import pytest

from conftest import MODEL, OPENAI_SCHEMAS, RawHTTP, SchemaChecker, ServerProcess, metric_value

PARAGRAPH = ("The Rhine rises in the Swiss Alps, flows through Lake Constance, forms part of the border between "
             "Germany and France, and reaches the North Sea in the Netherlands.")
COPY = [{"role": "user", "content": "Repeat this sentence exactly, word for word:\n\n" + PARAGRAPH}]
FREE = [{"role": "user", "content": "Name three rivers of Europe and one fact about each."}]


@pytest.fixture(scope="module")
def speculative(make_client, openapi_doc: dict) -> Iterator[tuple[openai.OpenAI, RawHTTP]]:
    server = ServerProcess(["--speculative-tokens", "5", "--speculative-max-running", "4"]).start()
    try:
        yield (make_client(server.url + "/v1"),
               RawHTTP(server.url, SchemaChecker(json.loads(OPENAI_SCHEMAS.read_text()), openapi_doc), None))
    finally:
        server.stop()


@pytest.fixture(scope="module")
def client(make_client) -> Iterator[openai.OpenAI]:
    """A server without speculation, the reference here."""
    server = ServerProcess(["--speculative-tokens", "0"]).start()
    try:
        yield make_client(server.url + "/v1")
    finally:
        server.stop()


@pytest.mark.parametrize("messages", [COPY, FREE], ids=["copy", "free"])
def test_greedy_answers_and_logprobs_are_unchanged(client: openai.OpenAI, speculative, messages) -> None:
    fast, _ = speculative
    kwargs = dict(model=MODEL, messages=messages, temperature=0, max_tokens=60, logprobs=True, top_logprobs=2)
    plain = client.chat.completions.create(**kwargs).choices[0]
    spec = fast.chat.completions.create(**kwargs).choices[0]
    assert spec.message.content == plain.message.content
    assert spec.finish_reason == plain.finish_reason
    assert [t.token for t in spec.logprobs.content] == [t.token for t in plain.logprobs.content]
    assert max(abs(a.logprob - b.logprob) for a, b in zip(spec.logprobs.content, plain.logprobs.content)) < 1e-4


def test_the_copied_answer_is_drafted_and_accepted(speculative) -> None:
    fast, http = speculative
    before = metric_value(http.get("/metrics").body.decode(), "moeserve:spec_decode_num_accepted_tokens_total") or 0
    answer = fast.chat.completions.create(model=MODEL, messages=COPY, temperature=0, max_tokens=60).choices[0].message.content
    assert PARAGRAPH[:40] in answer
    metrics = http.get("/metrics").body.decode()
    drafted = metric_value(metrics, "moeserve:spec_decode_num_draft_tokens_total")
    accepted = metric_value(metrics, "moeserve:spec_decode_num_accepted_tokens_total")
    assert drafted and accepted and accepted - before >= 20, (drafted, accepted, before)
    assert accepted <= drafted


def test_streamed_chunks_add_up_to_the_whole_answer(client: openai.OpenAI, speculative) -> None:
    fast, _ = speculative
    whole = client.chat.completions.create(model=MODEL, messages=COPY, temperature=0, max_tokens=60).choices[0].message.content
    stream = fast.chat.completions.create(model=MODEL, messages=COPY, temperature=0, max_tokens=60, stream=True,
                                          stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole
    # Several tokens verified in one step still stream one chunk per token.
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= chunks[-1].usage.completion_tokens - 2


def test_seeded_sampling_is_unchanged(client: openai.OpenAI, speculative) -> None:
    fast, _ = speculative
    kwargs = dict(model=MODEL, messages=COPY, temperature=0.8, top_p=0.95, seed=11, n=2, max_tokens=50)
    plain = [c.message.content for c in client.chat.completions.create(**kwargs).choices]
    spec = [c.message.content for c in fast.chat.completions.create(**kwargs).choices]
    assert spec == plain


def test_stops_hold_inside_accepted_drafts(client: openai.OpenAI, speculative) -> None:
    fast, _ = speculative
    for stop in (["Lake"], ["Germany and"]):
        kwargs = dict(model=MODEL, messages=COPY, temperature=0, max_tokens=60, stop=stop)
        plain = client.chat.completions.create(**kwargs).choices[0]
        spec = fast.chat.completions.create(**kwargs).choices[0]
        assert (spec.message.content, spec.finish_reason) == (plain.message.content, plain.finish_reason) == (spec.message.content, "stop")
    for limit in (1, 7, 13):
        kwargs = dict(model=MODEL, messages=COPY, temperature=0, max_tokens=limit)
        plain = client.chat.completions.create(**kwargs)
        spec = fast.chat.completions.create(**kwargs)
        assert spec.choices[0].message.content == plain.choices[0].message.content
        assert spec.usage.completion_tokens == plain.usage.completion_tokens == limit
