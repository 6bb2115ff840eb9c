"""End-to-end checks through the official `openai` Python package, sync and async.

Every response the client receives (bodies and each stream chunk) is also validated against
OpenAI's schema and our /openapi.json by conftest's recording transport.
"""

from __future__ import annotations

import asyncio

import openai
import pytest

from conftest import API_KEYS, MODEL, QUESTION

MAX_TOKENS = 24


@pytest.fixture(scope="module")
def greedy(client):
    """The temperature-0 answer to QUESTION; several tests compare against it."""
    return client.chat.completions.create(
        model=MODEL, messages=QUESTION, temperature=0, max_tokens=MAX_TOKENS
    )


def _assert_int(value, name):
    # bool is an int subclass; a JSON true/false here would be a bug.
    assert isinstance(value, int) and not isinstance(value, bool), (name, value)


def _assert_usage(usage, max_completion):
    assert usage is not None
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        _assert_int(getattr(usage, name), name)
    assert usage.prompt_tokens > 0
    assert 0 < usage.completion_tokens <= max_completion
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def _collect_stream(chunks, n=1):
    """Checks the streaming protocol and returns (texts per choice, finish reasons per choice,
    usage chunk or None)."""
    assert chunks, "stream produced no chunks"
    ids = {c.id for c in chunks}
    assert len(ids) == 1, f"chunks carry different ids: {ids}"
    assert len({c.created for c in chunks}) == 1, "chunks carry different `created`"
    texts = {i: [] for i in range(n)}
    finishes = {i: [] for i in range(n)}
    seen_role = set()
    usage_chunk = None
    for pos, chunk in enumerate(chunks):
        assert chunk.object == "chat.completion.chunk"
        assert chunk.model == MODEL
        if not chunk.choices:
            # Only the trailing usage chunk may have no choices.
            assert chunk.usage is not None, chunk
            assert pos == len(chunks) - 1, "usage chunk is not the last one"
            usage_chunk = chunk
            continue
        assert chunk.usage is None, f"usage on a chunk with choices: {chunk}"
        for choice in chunk.choices:
            assert choice.index in texts, chunk
            assert not finishes[choice.index], f"chunk for choice {choice.index} after its finish_reason"
            if choice.index not in seen_role:
                assert choice.delta.role == "assistant", f"first chunk of choice {choice.index}: {chunk}"
                seen_role.add(choice.index)
            else:
                assert choice.delta.role is None, f"role repeated: {chunk}"
            if choice.delta.content is not None:
                texts[choice.index].append(choice.delta.content)
            if choice.finish_reason is not None:
                finishes[choice.index].append(choice.finish_reason)
    for i in range(n):
        assert len(finishes[i]) == 1, f"choice {i}: finish reasons {finishes[i]}"
        assert finishes[i][0] in {"stop", "length"}
    return ({i: "".join(t) for i, t in texts.items()}, {i: f[0] for i, f in finishes.items()}, usage_chunk)


# --- chat, sync ---------------------------------------------------------------------------------


def test_chat_completion_non_streaming(greedy):
    resp = greedy
    assert resp.object == "chat.completion"
    assert resp.id.startswith("chatcmpl-")
    _assert_int(resp.created, "created")
    assert resp.model == MODEL
    assert isinstance(resp.system_fingerprint, str) and resp.system_fingerprint
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.refusal is None
    assert isinstance(choice.message.content, str) and choice.message.content
    assert "Paris" in choice.message.content, choice.message.content
    assert choice.finish_reason in {"stop", "length"}
    assert choice.logprobs is None
    _assert_usage(resp.usage, MAX_TOKENS)
    if choice.finish_reason == "length":
        assert resp.usage.completion_tokens == MAX_TOKENS


def test_chat_completion_streaming_matches_non_streaming(client, greedy):
    stream = client.chat.completions.create(
        model=MODEL, messages=QUESTION, temperature=0, max_tokens=MAX_TOKENS, stream=True
    )
    chunks = list(stream)
    texts, finishes, usage_chunk = _collect_stream(chunks)
    assert usage_chunk is None, "usage chunk without stream_options.include_usage"
    assert chunks[-1].choices[0].finish_reason is not None, "finish_reason is not on the last chunk"
    assert texts[0] == greedy.choices[0].message.content
    assert finishes[0] == greedy.choices[0].finish_reason


def test_stream_usage_chunk(client, greedy):
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=QUESTION, temperature=0, max_tokens=MAX_TOKENS, stream=True,
            stream_options={"include_usage": True},
        )
    )
    texts, _, usage_chunk = _collect_stream(chunks)
    assert usage_chunk is not None, "no usage chunk with include_usage"
    assert usage_chunk.choices == []
    _assert_usage(usage_chunk.usage, MAX_TOKENS)
    assert usage_chunk.usage.prompt_tokens == greedy.usage.prompt_tokens
    assert usage_chunk.usage.completion_tokens == greedy.usage.completion_tokens
    assert texts[0] == greedy.choices[0].message.content


def test_content_parts_and_system_message(client, greedy):
    messages = [{"role": "user", "content": [{"type": "text", "text": "What is the capital "},
                                             {"type": "text", "text": "of France?"}]}]
    resp = client.chat.completions.create(model=MODEL, messages=messages, temperature=0, max_tokens=MAX_TOKENS)
    # Text parts are joined; the prompt is the same as with plain string content.
    assert resp.usage.prompt_tokens == greedy.usage.prompt_tokens
    assert resp.choices[0].message.content == greedy.choices[0].message.content


def test_prefix_cache_reports_cached_tokens(client, greedy):
    # `greedy` ran the same prompt before, so its KV blocks are in the prefix cache.
    resp = client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=1)
    details = resp.usage.prompt_tokens_details
    assert details is not None and details.cached_tokens is not None, resp.usage
    assert 0 < details.cached_tokens <= resp.usage.prompt_tokens, resp.usage


# --- n, seed, stop, logprobs ---------------------------------------------------------------------


def test_n2_sampled_non_streaming(client):
    resp = client.chat.completions.create(
        model=MODEL, messages=QUESTION, n=2, temperature=0.9, seed=7, max_tokens=8, logprobs=True,
    )
    assert [c.index for c in resp.choices] == [0, 1]
    per_choice = []
    for choice in resp.choices:
        assert choice.message.role == "assistant"
        assert isinstance(choice.message.content, str)
        assert choice.finish_reason in {"stop", "length"}
        per_choice.append(len(choice.logprobs.content))
        assert "".join(t.token for t in choice.logprobs.content) == choice.message.content
    # usage counts the tokens of every choice; the prompt once.
    assert resp.usage.completion_tokens == sum(per_choice), (resp.usage, per_choice)
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens


def test_n2_sampled_streaming(client):
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=QUESTION, n=2, temperature=0.9, seed=7, max_tokens=8, stream=True,
            stream_options={"include_usage": True},
        )
    )
    texts, finishes, usage_chunk = _collect_stream(chunks, n=2)
    assert usage_chunk is not None
    assert usage_chunk.usage.completion_tokens <= 16


def test_seed_reproducibility(client):
    kwargs = dict(model=MODEL, messages=[{"role": "user", "content": "Tell me a short story."}],
                  temperature=0.8, seed=1234, max_tokens=12)
    first = client.chat.completions.create(**kwargs)
    second = client.chat.completions.create(**kwargs)
    assert first.choices[0].message.content == second.choices[0].message.content
    # The same seed in streaming mode samples the same tokens.
    texts, _, _ = _collect_stream(list(client.chat.completions.create(**kwargs, stream=True)))
    assert texts[0] == first.choices[0].message.content
    # A different seed may or may not give another text; it must simply work.
    other = client.chat.completions.create(**{**kwargs, "seed": 4321})
    assert isinstance(other.choices[0].message.content, str)


def test_stop_string_non_streaming(client, greedy):
    full = greedy.choices[0].message.content
    stop = "Paris"
    assert stop in full, f"precondition: greedy answer {full!r} contains {stop!r}"
    resp = client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0,
                                          max_tokens=MAX_TOKENS, stop=stop)
    text = resp.choices[0].message.content
    assert stop not in text
    assert resp.choices[0].finish_reason == "stop"
    assert text == full[: full.index(stop)]


def test_stop_list_streaming_spanning_tokens(client, greedy):
    full = greedy.choices[0].message.content
    # "apital of" spans several tokens: the stream must hold back the partial match.
    stops = ["zzz-never", "apital of"]
    assert stops[1] in full, f"precondition: greedy answer {full!r} contains {stops[1]!r}"
    chunks = list(client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0,
                                                 max_tokens=MAX_TOKENS, stop=stops, stream=True))
    texts, finishes, _ = _collect_stream(chunks)
    assert stops[1] not in texts[0]
    assert finishes[0] == "stop"
    assert texts[0] == full[: full.index(stops[1])]


def test_logprobs_top_logprobs(client, greedy):
    resp = client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=8,
                                          logprobs=True, top_logprobs=3)
    choice = resp.choices[0]
    content = choice.logprobs.content
    assert content, choice.logprobs
    assert len(content) == resp.usage.completion_tokens
    assert "".join(t.token for t in content) == choice.message.content
    assert greedy.choices[0].message.content.startswith(choice.message.content)
    for entry in content:
        assert entry.logprob <= 0.0
        assert entry.bytes == list(entry.token.encode("utf-8")), entry
        assert len(entry.top_logprobs) == 3, entry
        values = [t.logprob for t in entry.top_logprobs]
        assert values == sorted(values, reverse=True), entry
        # Greedy decoding picks the most likely token.
        assert entry.top_logprobs[0].token == entry.token, entry
        assert abs(entry.top_logprobs[0].logprob - entry.logprob) < 1e-4, entry


def test_logprobs_streaming(client):
    chunks = list(client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=6,
                                                 logprobs=True, top_logprobs=2, stream=True))
    texts, _, _ = _collect_stream(chunks)
    tokens = []
    for chunk in chunks:
        for choice in chunk.choices:
            if choice.delta.content:
                assert choice.logprobs is not None and choice.logprobs.content, chunk
                for entry in choice.logprobs.content:
                    assert len(entry.top_logprobs) == 2, entry
                    tokens.append(entry.token)
    assert "".join(tokens) == texts[0]


# --- chat, async --------------------------------------------------------------------------------


def test_async_concurrent_requests(make_async_client, base_url):
    prompts = ["What is the capital of France?", "Name a color.", "Say hello.", "Count to three."]

    async def run():
        client = make_async_client(base_url)
        async with client:
            results = await asyncio.gather(*[
                client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": p}],
                                               temperature=0, max_tokens=8)
                for p in prompts
            ])

            async def streamed():
                stream = await client.chat.completions.create(
                    model=MODEL, messages=QUESTION, temperature=0, max_tokens=8, stream=True)
                return [chunk async for chunk in stream]

            chunks = await streamed()
        return results, chunks

    results, chunks = asyncio.run(run())
    assert len({r.id for r in results}) == len(prompts), "responses share an id"
    for resp in results:
        assert resp.choices[0].message.content is not None
        _assert_usage(resp.usage, 8)
    _collect_stream(chunks)


# --- legacy completions ---------------------------------------------------------------------------

PROMPT = "The capital of France is"


def test_completions_basic_and_echo(client):
    plain = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=8, temperature=0)
    assert plain.object == "text_completion"
    assert plain.id.startswith("cmpl-")
    assert plain.model == MODEL
    assert len(plain.choices) == 1 and plain.choices[0].index == 0
    assert plain.choices[0].finish_reason in {"stop", "length"}
    _assert_usage(plain.usage, 8)

    echoed = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=8, temperature=0, echo=True)
    assert echoed.choices[0].text == PROMPT + plain.choices[0].text
    assert echoed.usage.completion_tokens == plain.usage.completion_tokens


def test_completions_legacy_logprobs(client):
    resp = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=6, temperature=0, logprobs=2)
    choice = resp.choices[0]
    lp = choice.logprobs
    assert lp is not None
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset)
    assert "".join(lp.tokens) == choice.text
    for i, token in enumerate(lp.tokens):
        assert choice.text[lp.text_offset[i]:].startswith(token), (i, token, lp.text_offset)
        assert len(lp.top_logprobs[i]) == 2
        assert lp.token_logprobs[i] <= 0.0


def test_completions_echo_logprobs_cover_the_prompt(client):
    """echo + logprobs scores the prompt too, as OpenAI's legacy API does (how evaluation harnesses compute a
    text's log-likelihood): one entry per prompt token, the first with null logprobs, then the generated ones."""
    resp = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=1, temperature=0, logprobs=1, echo=True)
    choice, usage = resp.choices[0], resp.usage
    lp = choice.logprobs
    assert len(lp.tokens) == usage.prompt_tokens + usage.completion_tokens
    assert "".join(lp.tokens) == choice.text
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert all(x <= 0.0 for x in lp.token_logprobs[1:])
    for i, token in enumerate(lp.tokens):
        assert choice.text[lp.text_offset[i]:].startswith(token), (i, token, lp.text_offset)
    for i in range(1, len(lp.tokens)):
        # The most likely token, and the actual one when it is another (OpenAI: up to logprobs + 1 entries).
        top = lp.top_logprobs[i]
        assert 1 <= len(top) <= 2 and top[lp.tokens[i]] == lp.token_logprobs[i], (i, top, lp.token_logprobs[i])
        assert max(top.values()) >= lp.token_logprobs[i], (i, top)
    # The prompt is scored whole each time (never from the prefix cache): the same numbers again.
    again = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=1, temperature=0, logprobs=1, echo=True)
    assert again.choices[0].logprobs.token_logprobs == lp.token_logprobs
    assert again.usage.prompt_tokens_details.cached_tokens == 0


@pytest.mark.parametrize("stream", [False, True])
def test_completions_echo_with_max_tokens_zero_scores_the_prompt_alone(client, stream):
    kw = dict(model=MODEL, prompt=PROMPT, max_tokens=0, temperature=0, logprobs=2, echo=True)
    if stream:
        text, tokens, finish = "", [], None
        for chunk in client.completions.create(stream=True, **kw):
            for c in chunk.choices:
                text += c.text
                tokens += (c.logprobs.tokens if c.logprobs else [])
                finish = c.finish_reason or finish
    else:
        resp = client.completions.create(**kw)
        c = resp.choices[0]
        text, tokens, finish = c.text, c.logprobs.tokens, c.finish_reason
        assert resp.usage.completion_tokens == 0 and len(tokens) == resp.usage.prompt_tokens
        assert c.logprobs.token_logprobs[0] is None and all(x <= 0 for x in c.logprobs.token_logprobs[1:])
    assert text == PROMPT and "".join(tokens) == PROMPT and finish == "length"


@pytest.mark.parametrize("echo", [False, True])
def test_completions_streamed_logprobs_match_the_whole_answer(client, echo):
    """Streamed legacy logprobs carry the same text_offset as the whole answer: offsets into the choice's
    text (after the echoed prompt), not 0 in every chunk."""
    kw = dict(model=MODEL, prompt=PROMPT, max_tokens=6, temperature=0, logprobs=1, echo=echo)
    whole = client.completions.create(**kw).choices[0]
    tokens, offsets, text = [], [], ""
    for chunk in client.completions.create(stream=True, **kw):
        for c in chunk.choices:
            text += c.text
            if c.logprobs and c.logprobs.tokens:
                tokens += c.logprobs.tokens
                offsets += c.logprobs.text_offset
    assert text == whole.text
    assert tokens == whole.logprobs.tokens
    assert offsets == whole.logprobs.text_offset
    for token, offset in zip(tokens, offsets):
        assert text[offset:].startswith(token), (token, offset, text)


def test_completions_prompt_forms(client, http):
    # A batch of two string prompts -> two choices.
    resp = client.completions.create(model=MODEL, prompt=[PROMPT, "One, two,"], max_tokens=4, temperature=0)
    assert sorted(c.index for c in resp.choices) == [0, 1]
    single = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=4, temperature=0)
    by_index = {c.index: c.text for c in resp.choices}
    assert by_index[0] == single.choices[0].text

    # The same prompt as token ids gives the same completion.
    ids = http.post("/tokenize", {"model": MODEL, "prompt": PROMPT}).json()["tokens"]
    from_ids = client.completions.create(model=MODEL, prompt=ids, max_tokens=4, temperature=0)
    assert from_ids.choices[0].text == single.choices[0].text
    assert from_ids.usage.prompt_tokens == len(ids)
    batch_ids = client.completions.create(model=MODEL, prompt=[ids, ids], max_tokens=4, temperature=0)
    assert [c.text for c in sorted(batch_ids.choices, key=lambda c: c.index)] == [single.choices[0].text] * 2


def test_completions_streaming(client):
    single = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=6, temperature=0)
    chunks = list(client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=6, temperature=0,
                                            stream=True, stream_options={"include_usage": True}))
    text, finishes = [], []
    for chunk in chunks[:-1]:
        assert chunk.object == "text_completion"
        for choice in chunk.choices:
            text.append(choice.text)
            if choice.finish_reason is not None:
                finishes.append(choice.finish_reason)
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert "".join(text) == single.choices[0].text
    assert finishes == [single.choices[0].finish_reason]


# --- models ---------------------------------------------------------------------------------------


def test_models_list_and_retrieve(client):
    models = client.models.list()
    ids = [m.id for m in models.data]
    assert MODEL in ids, ids
    for m in models.data:
        assert m.object == "model"
    model = client.models.retrieve(MODEL)
    assert model.id == MODEL and model.object == "model"
    _assert_int(model.created, "created")


# --- errors as the SDK raises them -----------------------------------------------------------------


def test_not_found_errors(client):
    with pytest.raises(openai.NotFoundError) as exc:
        client.models.retrieve("no-such-model")
    assert exc.value.status_code == 404
    with pytest.raises(openai.NotFoundError) as exc:
        client.chat.completions.create(model="no-such-model", messages=QUESTION, max_tokens=1)
    assert exc.value.param == "model"


def test_bad_request_errors(client):
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=5, max_tokens=1)
    assert exc.value.status_code == 400
    assert exc.value.param == "temperature"
    # The SDK rejects a call without `messages` before sending it (TypeError); `omit` passes that
    # check and is dropped from the body, so the server really receives no messages.
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model=MODEL, messages=openai.omit, max_tokens=1)
    assert exc.value.param == "messages"
    with pytest.raises(openai.BadRequestError) as exc:
        client.completions.create(model=MODEL, prompt=PROMPT, suffix="!", max_tokens=1)
    assert exc.value.param == "suffix"


def test_authentication_errors(make_client, secured_server):
    base = secured_server.url + "/v1"
    with pytest.raises(openai.AuthenticationError) as exc:
        make_client(base, api_key="sk-wrong").models.list()
    assert exc.value.status_code == 401
    for key in API_KEYS:  # --api-key is repeatable: each one works
        assert MODEL in [m.id for m in make_client(base, api_key=key).models.list().data]
    with pytest.raises(openai.AuthenticationError):
        make_client(base, api_key="sk-wrong").chat.completions.create(
            model=MODEL, messages=QUESTION, max_tokens=1)
