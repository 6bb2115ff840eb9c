"""`moeserve serve --model FOLDER` on every Hugging Face family we support, end to end.

Each tiny checkpoint in Tests/Fixtures/models/<family>/ (random weights in the exact Hugging Face
layout, made by scripts/reference/make_model_fixtures.py) is assembled into a model folder with
the character-level tokenizer of Tests/Fixtures/models/serving/ (made by
scripts/reference/make_serving_fixtures.py), served by the real binary, and asked, through the
API, for the 8 greedy tokens after the fixture's prompt. The answer must be exactly the text
Hugging Face `tokenizers` decodes from the tokens `transformers` generated.
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path
from typing import Iterator

import pytest

from conftest import REPO, RawHTTP, SchemaChecker, ServerProcess, OPENAI_SCHEMAS, assert_error

FIXTURES = REPO / "Tests/Fixtures/models"
SERVING = FIXTURES / "serving"
EXPECTED = json.loads((SERVING / "expected.json").read_text())["families"]
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def assemble(family: str, into: Path) -> Path:
    """A model folder as a user would have it: checkpoint + tokenizer files side by side."""
    folder = into / family
    folder.mkdir()
    source = FIXTURES / family
    for name in os.listdir(source):
        if name == "config.json" or name.startswith("model") and (name.endswith(".safetensors") or name.endswith(".json")):
            os.symlink(source / name, folder / name)
    for name in TOKENIZER_FILES:
        os.symlink(SERVING / name, folder / name)
    return folder


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def family_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                  openapi_doc: dict) -> Iterator[tuple[str, RawHTTP]]:
    family = request.param
    folder = assemble(family, tmp_path_factory.mktemp("hf"))
    server = ServerProcess([], model_path=str(folder), model_id=f"tiny-{family}").start()
    try:
        yield family, RawHTTP(server.url, SchemaChecker(json.loads(OPENAI_SCHEMAS.read_text()), openapi_doc), None)
    finally:
        server.stop()


def test_greedy_tokens_equal_transformers(family_server: tuple[str, RawHTTP]) -> None:
    family, http = family_server
    case = EXPECTED[family]
    resp = http.post("/v1/completions", {
        "model": f"tiny-{family}", "prompt": case["prompt_ids"], "max_tokens": len(case["decode_ids"]),
        "temperature": 0, "ignore_eos": True,
    })
    assert resp.status == 200, resp
    body = resp.json()
    choice = body["choices"][0]
    assert choice["text"] == case["text"], (family, choice["text"], case["text"])
    assert choice["finish_reason"] == "length"
    usage = body["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (len(case["prompt_ids"]), len(case["decode_ids"]))


def test_streamed_chat_matches_unstreamed(family_server: tuple[str, RawHTTP]) -> None:
    """The chat route runs the folder's own chat template and tokenizer."""
    family, http = family_server
    request = {"model": f"tiny-{family}", "messages": [{"role": "user", "content": "Hello there"}],
               "max_tokens": 6, "temperature": 0, "ignore_eos": True}
    whole = http.post("/v1/chat/completions", request)
    assert whole.status == 200, whole
    message = whole.json()["choices"][0]["message"]
    streamed = http.post("/v1/chat/completions", {**request, "stream": True})
    assert streamed.status == 200, streamed
    text = "".join((json.loads(e.data)["choices"] or [{}])[0].get("delta", {}).get("content") or ""
                   for e in streamed.events() if e.data != "[DONE]")
    assert text == message["content"]
    # The template renders <s> then this, one token per character.
    assert whole.json()["usage"]["prompt_tokens"] == 1 + len("user: Hello there\nassistant: ")


def test_tokenize_uses_the_folder_tokenizer(family_server: tuple[str, RawHTTP]) -> None:
    family, http = family_server
    resp = http.post("/tokenize", {"model": f"tiny-{family}", "prompt": "Hi!"})
    assert resp.status == 200, resp
    vocab = json.loads((SERVING / "tokenizer.json").read_text())["model"]["vocab"]
    assert resp.json()["tokens"] == [vocab["H"], vocab["i"], vocab["!"]]


def _startup_error(folder: Path, args: list[str]) -> str:
    """What the server says when it refuses to start with `args`."""
    server = ServerProcess(args, model_path=str(folder), model_id="broken")
    with pytest.raises(RuntimeError) as failure:
        server.start(ready_timeout=60)
    server.stop()
    return str(failure.value)


def test_folder_without_tokenizer_is_a_clear_startup_error(tmp_path: Path) -> None:
    folder = assemble("llama", tmp_path)
    (folder / "tokenizer.json").unlink()
    assert "tokenizer.json" in _startup_error(folder, [])


def _weights_mb(log: str) -> float:
    match = re.search(r"weights_mb[\"=: ]+\"?([0-9.]+)", log)
    assert match, log
    return float(match.group(1))


def test_quantization_at_load_shrinks_the_weights_and_serves(tmp_path: Path, openapi_doc: dict) -> None:
    """`--quantization q8_0`: the Hugging Face matrices become Q8_0 blocks at load."""
    folder = assemble("qwen3_moe", tmp_path)
    sizes = {}
    for mode in ("none", "q8_0"):
        server = ServerProcess(["--quantization", mode], model_path=str(folder), model_id="tiny").start()
        try:
            http = RawHTTP(server.url, SchemaChecker(json.loads(OPENAI_SCHEMAS.read_text()), openapi_doc), None)
            resp = http.post("/v1/completions", {"model": "tiny", "prompt": EXPECTED["qwen3_moe"]["prompt_ids"],
                                                 "max_tokens": 4, "temperature": 0, "ignore_eos": True})
            assert resp.status == 200, resp
            assert resp.json()["usage"]["completion_tokens"] == 4
            sizes[mode] = _weights_mb(server.log_path.read_text(errors="replace"))
        finally:
            server.stop()
    assert sizes["q8_0"] < 0.8 * sizes["none"], sizes


def _answer_as_transformers(family: str, folder: Path, args: list[str], openapi_doc: dict) -> str:
    """Serves `folder` with `args`, checks the greedy answer to the family's prompt is transformers' text, and
    returns the server's log."""
    case = EXPECTED[family]
    server = ServerProcess(args, model_path=str(folder), model_id="tiny").start()
    try:
        http = RawHTTP(server.url, SchemaChecker(json.loads(OPENAI_SCHEMAS.read_text()), openapi_doc), None)
        resp = http.post("/v1/completions", {"model": "tiny", "prompt": case["prompt_ids"],
                                             "max_tokens": len(case["decode_ids"]), "temperature": 0, "ignore_eos": True})
        assert resp.status == 200, resp
        assert resp.json()["choices"][0]["text"] == case["text"], (args, resp.json()["choices"][0]["text"])
        return server.log_path.read_text(errors="replace")
    finally:
        server.stop()


@pytest.mark.parametrize("family", ["qwen3_moe", "deepseek_v3"])
def test_bf16_at_load_halves_the_weights_and_answers_as_transformers(family: str, tmp_path: Path,
                                                                     openapi_doc: dict) -> None:
    """`--quantization bf16`: every matrix is held as bf16 (norms stay fp32), so the resident size is
    about half of fp32, and the greedy answer is still exactly transformers' text."""
    folder = assemble(family, tmp_path)
    sizes = {mode: _weights_mb(_answer_as_transformers(family, folder, ["--quantization", mode], openapi_doc))
             for mode in ("none", "bf16")}
    # The log has 0.1 MB resolution and these checkpoints are 0.5–1 MB, so ~half shows as 0.3 of 0.5.
    assert 0.4 * sizes["none"] < sizes["bf16"] < 0.65 * sizes["none"], sizes


def test_unknown_quantization_is_a_clear_startup_error(tmp_path: Path) -> None:
    message = _startup_error(assemble("llama", tmp_path), ["--quantization", "bf17"])
    assert "bf17" in message and "none, q8_0, q4_0 or bf16" in message


@pytest.mark.parametrize("family", ["deepseek_v4", "deepseek_v32"])
def test_concurrent_greedy_requests_equal_their_solo_runs(family: str, tmp_path: Path, openapi_doc: dict) -> None:
    """8 requests with different prompt lengths, all at once, give the tokens each gives alone."""
    from concurrent.futures import ThreadPoolExecutor

    folder = assemble(family, tmp_path)
    server = ServerProcess([], model_path=str(folder), model_id="tiny").start()
    try:
        http = RawHTTP(server.url, SchemaChecker(json.loads(OPENAI_SCHEMAS.read_text()), openapi_doc), None)
        prompt = EXPECTED[family]["prompt_ids"]
        requests = [{"model": "tiny", "prompt": prompt[: 4 + 3 * i], "max_tokens": 12, "temperature": 0,
                     "ignore_eos": True} for i in range(8)]

        def text(body: dict) -> str:
            resp = http.post("/v1/completions", body)
            assert resp.status == 200, resp
            return resp.json()["choices"][0]["text"]

        solo = [text(r) for r in requests]
        with ThreadPoolExecutor(8) as pool:
            together = list(pool.map(text, requests))
        assert together == solo
        assert len(set(solo)) > 1  # different prompts, different continuations: the test can fail
    finally:
        server.stop()


def _kv_tokens(log: str) -> int:
    match = re.search(r"kv_tokens[\"=: ]+\"?([0-9]+)", log)
    assert match, log
    return int(match.group(1))


@pytest.mark.parametrize("family", ["llama", "deepseek_v3", "deepseek_v32", "deepseek_v4"])
def test_narrow_kv_caches_hold_twice_the_tokens_and_answer_as_transformers(family: str, tmp_path: Path,
                                                                           openapi_doc: dict) -> None:
    """`--kv-cache-dtype f16/bf16`: the same KV memory holds twice the tokens (GQA, MLA latents, V3.2's
    indexer keys, V4's compressed groups), and the greedy answer is still transformers' text. Without the
    flag (`auto`) the cache is f16's."""
    folder = assemble(family, tmp_path)
    tokens = {dtype: _kv_tokens(_answer_as_transformers(family, folder, (["--kv-cache-dtype", dtype] if dtype else []) +
                                                        ["--kv-cache-memory", "8MiB"], openapi_doc))
              for dtype in ("f32", "f16", "bf16", None)}
    assert tokens[None] == tokens["f16"], tokens
    # Block counts round down, so "twice" is within a block or two. DeepSeek-V4's windowed groups take a fixed
    # number of blocks first, so at half the bytes they leave more than twice the room to the others.
    assert tokens["f16"] == tokens["bf16"] >= 1.9 * tokens["f32"], tokens
    if family != "deepseek_v4":
        assert tokens["f16"] <= 2.1 * tokens["f32"], tokens


def test_bad_kv_cache_dtypes_are_clear_startup_errors(tmp_path: Path) -> None:
    folder = assemble("llama", tmp_path)
    for args, expected in ((["--kv-cache-dtype", "fp8"], "f32, f16 or bf16"),
                           (["--kv-cache-dtype", "f16", "--device", "ascend-sim"], "applies to --device cpu only")):
        message = _startup_error(folder, args)
        assert expected in message, (args, message)


@pytest.mark.parametrize("device", ["cpu", "ascend-sim"])
def test_mtp_speculation_drafts_and_answers_as_transformers(device: str, tmp_path: Path, openapi_doc: dict) -> None:
    """`--speculative-method mtp`: DeepSeek-V3's multi-token-prediction layer drafts a token every decoding step (the
    fixture's random layer guesses wrong, so verification must throw its drafts away), and the greedy answer is
    still transformers' text, on both executors."""
    case = EXPECTED["deepseek_v3"]
    folder = assemble("deepseek_v3", tmp_path)
    server = ServerProcess(["--speculative-method", "mtp", "--device", device], model_path=str(folder), model_id="tiny").start()
    try:
        http = RawHTTP(server.url, SchemaChecker(json.loads(OPENAI_SCHEMAS.read_text()), openapi_doc), None)
        resp = http.post("/v1/completions", {"model": "tiny", "prompt": case["prompt_ids"],
                                             "max_tokens": len(case["decode_ids"]), "temperature": 0, "ignore_eos": True})
        assert resp.status == 200, resp
        assert resp.json()["choices"][0]["text"] == case["text"]
        metrics = http.get("/metrics").body.decode()
        drafts = re.search(r"^moeserve:spec_decode_num_draft_tokens_total(?:\{[^}]*\})? ([0-9.]+)$", metrics, re.M)
        # A draft every decoding step but the last (no room for a token after it within max_tokens).
        assert drafts and float(drafts.group(1)) == len(case["decode_ids"]) - 2, metrics[:2000]
        assert re.search(r"method=mtp.*speculative decoding", server.log_path.read_text(errors="replace"))
    finally:
        server.stop()


def test_mtp_without_the_layer_is_a_clear_startup_error(tmp_path: Path) -> None:
    folder = assemble("llama", tmp_path)
    message = _startup_error(folder, ["--speculative-method", "mtp"])
    assert "no multi-token-prediction layer" in message, message
    message = _startup_error(folder, ["--speculative-method", "eagle"])
    assert "ngram or mtp" in message, message
    message = _startup_error(assemble("deepseek_v4", tmp_path), ["--speculative-method", "mtp"])
    assert "speculative decoding is off for it" in message, message


# --- Embeddings: the pooled final hidden states transformers computes ----------------------------

HIDDEN = sorted(f for f in EXPECTED if (FIXTURES / f / "hidden.safetensors").exists())


def _hidden_rows(family: str) -> list[list[float]]:
    """transformers' `last_hidden_state` for the fixture prompt (scripts/reference/make_embedding_fixtures.py)."""
    data = (FIXTURES / family / "hidden.safetensors").read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    info = json.loads(data[8:8 + size])["prompt_hidden"]
    assert info["dtype"] == "F32"
    rows, width = info["shape"]
    start, end = info["data_offsets"]
    values = struct.unpack(f"<{rows * width}f", data[8 + size + start:8 + size + end])
    return [list(values[r * width:(r + 1) * width]) for r in range(rows)]


def _embedding(http: RawHTTP, model: str, ids: list[int]) -> list[float]:
    resp = http.post("/v1/embeddings", {"model": model, "input": ids, "normalize": False, "encoding_format": "float"})
    assert resp.status == 200, resp
    return resp.json()["data"][0]["embedding"]


@pytest.mark.parametrize("family_server", HIDDEN, indirect=True)
def test_embeddings_are_the_last_hidden_state(family_server: tuple[str, RawHTTP]) -> None:
    """Without a sentence-transformers Pooling module, a folder pools the last token (decoder embedding models).
    These servers keep their KV cache in f16 (the default), so the states are transformers' up to that rounding."""
    family, http = family_server
    rows = _hidden_rows(family)
    got = _embedding(http, f"tiny-{family}", EXPECTED[family]["prompt_ids"])
    assert len(got) == len(rows[-1]) and max(abs(a - b) for a, b in zip(got, rows[-1])) < 3e-3


def _declare_pooling(folder: Path, mode: str) -> None:
    """sentence-transformers' files, as an embedding model ships them: modules.json and the Pooling module's config."""
    (folder / "1_Pooling").mkdir()
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]))
    modes = ["cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens", "lasttoken"]
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 64, **{f"pooling_mode_{m}": m == mode for m in modes}}))


def test_a_declared_mean_pooling_is_followed(tmp_path: Path, openapi_doc: dict) -> None:
    folder = assemble("qwen3", tmp_path)
    _declare_pooling(folder, "mean_tokens")
    # An f32 KV cache: exactly transformers' states (up to summation order).
    server = ServerProcess(["--kv-cache-dtype", "f32"], model_path=str(folder), model_id="tiny").start()
    try:
        http = RawHTTP(server.url, SchemaChecker(json.loads(OPENAI_SCHEMAS.read_text()), openapi_doc), None)
        rows = _hidden_rows("qwen3")
        mean = [sum(r[j] for r in rows) / len(rows) for j in range(len(rows[0]))]
        got = _embedding(http, "tiny", EXPECTED["qwen3"]["prompt_ids"])
        assert max(abs(a - b) for a, b in zip(got, mean)) < 1e-4
        # A mean needs every position, so a second request computes the whole prompt again (no prefix-cache hit).
        again = http.post("/v1/embeddings", {"model": "tiny", "input": EXPECTED["qwen3"]["prompt_ids"], "normalize": False,
                                             "encoding_format": "float"}).json()
        assert again["data"][0]["embedding"] == got
    finally:
        server.stop()
    assert re.search(r"declared=mean .*pooling=mean", server.final_log), server.final_log


def test_a_declared_pooling_the_server_lacks_is_a_clear_error(tmp_path: Path, openapi_doc: dict) -> None:
    folder = assemble("qwen3", tmp_path)
    _declare_pooling(folder, "cls_token")
    server = ServerProcess([], model_path=str(folder), model_id="tiny").start()
    try:
        http = RawHTTP(server.url, SchemaChecker(json.loads(OPENAI_SCHEMAS.read_text()), openapi_doc), None)
        error = assert_error(http.post("/v1/embeddings", {"model": "tiny", "input": "hello"}), 400, "model")
        assert "'cls'" in error["message"] and "--pooling" in error["message"]
        # Generation is unaffected.
        assert http.post("/v1/completions", {"model": "tiny", "prompt": "hi", "max_tokens": 2}).status == 200
    finally:
        server.stop()
    # Told how to pool, it serves the last token's state.
    server = ServerProcess(["--pooling", "last", "--kv-cache-dtype", "f32"], model_path=str(folder), model_id="tiny").start()
    try:
        http = RawHTTP(server.url, SchemaChecker(json.loads(OPENAI_SCHEMAS.read_text()), openapi_doc), None)
        got = _embedding(http, "tiny", EXPECTED["qwen3"]["prompt_ids"])
        assert max(abs(a - b) for a, b in zip(got, _hidden_rows("qwen3")[-1])) < 1e-4
    finally:
        server.stop()


def test_an_embedding_model_as_qwen_ships_it(tmp_path: Path, openapi_doc: dict) -> None:
    """Qwen3-Embedding's layout: tensors saved from the backbone (no `model.` prefix), untied embeddings with no
    lm_head (the 8B), and here no chat template. It serves embeddings; generation and chat are refused, naming why."""
    folder = tmp_path / "qwen3-embedding"
    folder.mkdir()
    source = FIXTURES / "qwen3"
    config = json.loads((source / "config.json").read_text())
    config["tie_word_embeddings"] = False
    (folder / "config.json").write_text(json.dumps(config))
    data = (source / "model.safetensors").read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    flat = {name.removeprefix("model."): info for name, info in header.items()}
    assert "lm_head.weight" not in flat
    encoded = json.dumps(flat).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(encoded)) + encoded + data[8 + size:])
    os.symlink(SERVING / "tokenizer.json", folder / "tokenizer.json")
    tokenizer_config = json.loads((SERVING / "tokenizer_config.json").read_text())
    tokenizer_config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    _declare_pooling(folder, "lasttoken")

    server = ServerProcess(["--kv-cache-dtype", "f32"], model_path=str(folder), model_id="tiny-embed").start()
    try:
        http = RawHTTP(server.url, SchemaChecker(json.loads(OPENAI_SCHEMAS.read_text()), openapi_doc), None)
        got = _embedding(http, "tiny-embed", EXPECTED["qwen3"]["prompt_ids"])
        assert max(abs(a - b) for a, b in zip(got, _hidden_rows("qwen3")[-1])) < 1e-4
        assert_error(http.post("/v1/completions", {"model": "tiny-embed", "prompt": "hi", "max_tokens": 2}), 400, "model",
                     "model_not_supported")
        assert_error(http.post("/v1/chat/completions", {"model": "tiny-embed", "messages": [{"role": "user", "content": "hi"}]}),
                     400, "messages", "no_chat_template")
    finally:
        server.stop()
    assert "no output head" in server.final_log and "no chat template" in server.final_log
