"""`POST /v1/embeddings` end to end, through the official `openai` package and raw HTTP.

The default model is a chat model, so these tests check what holds for any model -- shape, encodings, batching,
`dimensions`, usage, errors, and embeddings sharing the engine with chat -- not what its vectors mean. That the
vectors are the model's pooled final hidden states is checked against transformers in test_hf_folders.py.
"""

from __future__ import annotations

import base64
import math
import struct
import threading

import openai
import pytest

from conftest import MODEL, QUESTION, RawHTTP, assert_error


def norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b)) / (norm(a) * norm(b))


def embed(http: RawHTTP, body: dict) -> dict:
    resp = http.post("/v1/embeddings", {"model": MODEL, **body})
    assert resp.status == 200, resp
    return resp.json()


def test_the_sdk_default_base64_gives_unit_vectors(client: openai.OpenAI) -> None:
    # The SDK asks for base64 unless told otherwise, and decodes it itself.
    result = client.embeddings.create(model=MODEL, input="The quick brown fox")
    assert result.object == "list" and result.model == MODEL and len(result.data) == 1
    item = result.data[0]
    assert item.object == "embedding" and item.index == 0
    assert len(item.embedding) == 576  # SmolLM2-135M's hidden size
    assert abs(norm(item.embedding) - 1) < 1e-5
    assert result.usage.prompt_tokens == result.usage.total_tokens > 0


def test_base64_is_the_float_vectors_bytes(http: RawHTTP) -> None:
    text = "Embeddings are pooled hidden states."
    floats = embed(http, {"input": text, "encoding_format": "float"})["data"][0]["embedding"]
    encoded = embed(http, {"input": text, "encoding_format": "base64"})["data"][0]["embedding"]
    raw = base64.b64decode(encoded)
    decoded = list(struct.unpack(f"<{len(raw) // 4}f", raw))
    assert len(decoded) == len(floats)
    # The same computation twice: the same float32 values, each written so that it reads back as itself.
    assert struct.pack(f"<{len(floats)}f", *floats) == raw


def test_a_batch_answers_in_input_order(client: openai.OpenAI, http: RawHTTP) -> None:
    texts = ["Paris is the capital of France.", "def add(a, b): return a + b", "Paris is the capital of France."]
    batch = client.embeddings.create(model=MODEL, input=texts, encoding_format="float")
    assert [d.index for d in batch.data] == [0, 1, 2]
    vectors = [d.embedding for d in batch.data]
    assert cosine(vectors[0], vectors[2]) > 0.9999, "the same text twice in one batch"
    assert cosine(vectors[0], vectors[1]) < 0.999, "different texts"
    # Each input alone gives its vector in the batch.
    for text, vector in zip(texts[:2], vectors):
        alone = client.embeddings.create(model=MODEL, input=text, encoding_format="float").data[0].embedding
        assert cosine(alone, vector) > 0.9999
    # Usage counts every input's tokens.
    counts = [http.post("/tokenize", {"prompt": t}).json()["count"] for t in texts]
    assert batch.usage.prompt_tokens == batch.usage.total_tokens == sum(counts)


def test_token_ids_embed_like_their_text(client: openai.OpenAI, http: RawHTTP) -> None:
    text = "Token ids and text meet here."
    ids = http.post("/tokenize", {"prompt": text}).json()["tokens"]
    by_text = client.embeddings.create(model=MODEL, input=text, encoding_format="float").data[0].embedding
    by_ids = client.embeddings.create(model=MODEL, input=ids, encoding_format="float").data[0].embedding
    both = client.embeddings.create(model=MODEL, input=[ids, ids[:3]], encoding_format="float")
    assert cosine(by_text, by_ids) > 0.9999
    assert cosine(both.data[0].embedding, by_ids) > 0.9999
    assert both.usage.prompt_tokens == len(ids) + 3


def test_dimensions_shorten_then_normalise(client: openai.OpenAI, http: RawHTTP) -> None:
    text = "Shorter vectors keep their first values."
    raw = embed(http, {"input": text, "normalize": False})["data"][0]["embedding"]
    short = client.embeddings.create(model=MODEL, input=text, dimensions=64, encoding_format="float").data[0].embedding
    assert len(short) == 64 and abs(norm(short) - 1) < 1e-5
    head = raw[:64]
    assert cosine(short, head) > 0.9999
    assert abs(norm(raw) - 1) > 1e-3, "normalize false leaves the pooled state as it is"
    assert_error(http.post("/v1/embeddings", {"model": MODEL, "input": text, "dimensions": 577}), 400, "dimensions")


@pytest.mark.parametrize("body, status, param", [
    ({"input": ""}, 400, "input"),
    ({"input": []}, 400, "input"),
    ({"input": ["fine", ""]}, 400, "input[1]"),
    ({"input": [[1, 2], []]}, 400, "input[1]"),
    ({"input": [10**7]}, 400, "input"),
    ({"input": {"text": "x"}}, 400, "input"),
    ({"input": "x", "encoding_format": "binary"}, 400, "encoding_format"),
    ({"input": "x", "dimensions": 0}, 400, "dimensions"),
    ({"input": "x", "model": "text-embedding-3-small"}, 404, "model"),
])
def test_bad_requests_are_named(http: RawHTTP, body: dict, status: int, param: str) -> None:
    assert_error(http.post("/v1/embeddings", {"model": MODEL, **body}), status, param)


def test_the_sdk_raises_openais_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model=MODEL, input="")
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="no-such-model", input="x")


def test_inputs_beyond_the_context_need_truncation(http: RawHTTP, max_model_len: int) -> None:
    ids = [28] * (max_model_len + 5)
    assert_error(http.post("/v1/embeddings", {"model": MODEL, "input": ids}), 400, "input", "context_length_exceeded")
    # (-1, as many as fit, is checked in the Swift tests: a whole context of prompt is slow on 2 cores.)
    last = embed(http, {"input": ids, "truncate_prompt_tokens": 7})
    assert last["usage"]["prompt_tokens"] == 7


def test_embeddings_and_chat_share_the_engine(client: openai.OpenAI) -> None:
    # A chat stream and a batch of embeddings at once: both complete, and the chat says what it says alone.
    alone = client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=24).choices[0].message.content
    texts: list[str] = []

    def chat() -> None:
        stream = client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=24, stream=True)
        texts.append("".join(c.choices[0].delta.content or "" for c in stream if c.choices))

    thread = threading.Thread(target=chat)
    thread.start()
    batch = client.embeddings.create(model=MODEL, input=[f"sentence number {i}" for i in range(12)], encoding_format="float")
    thread.join(timeout=120)
    assert len(batch.data) == 12 and all(len(d.embedding) == 576 for d in batch.data)
    assert texts == [alone]
