#!/usr/bin/env python3
"""Differential fixtures for Tests/TokenizerTests/TokenizerDiffTests.swift, made with Hugging Face
`tokenizers` (the Rust core) as the reference.

1. Trains small tokenizers with `tokenizers` itself and writes their `tokenizer.json` (each well under
   1 MB) to Tests/Fixtures/tokenizer-json/NAME/: byte-level ones (Llama-3 split regex, GPT-2 with
   digits, DeepSeek-V3 split sequence) and SentencePiece-style ones (Metaspace, and the legacy
   Prepend+Replace normalizer), both with byte fallback.
2. Rebuilds the GGUF vocabularies in Tests/Fixtures/tokenizer-vectors/ as `tokenizers` objects with
   the pipeline of the original model, and checks them against llama.cpp's .out vectors (the ids the
   original Hugging Face tokenizers produced) before using them.
3. Same for SmolLM2 from models/SmolLM2-135M-Instruct.Q4_1.gguf when present (its upstream
   pre-tokenizer: individual digits, then ByteLevel).
4. Encodes every string of tokenizer_strings.py with each and writes
   Tests/Fixtures/tokenizer-diff/NAME.json: {"name", "source", "ids", "ids_special", "decoded"}.
   `ids`: encode(add_special_tokens=False) with special-token text NOT parsed
   (encode_special_tokens=True, llama.cpp's parse_special=false); `ids_special`: with it parsed (HF's
   default); `decoded`: decode(ids, skip_special_tokens=False).

Usage (from the repo root): .venv-reference/bin/python scripts/reference/make_tokenizer_fixtures.py
"""

import json
import os
import sys
import time

import gguf
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

sys.path.insert(0, os.path.dirname(__file__))
from tokenizer_strings import CURATED, all_strings  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIX = os.path.join(ROOT, "Tests", "Fixtures")
VECTORS = os.path.join(FIX, "tokenizer-vectors")
JSON_DIR = os.path.join(FIX, "tokenizer-json")
DIFF_DIR = os.path.join(FIX, "tokenizer-diff")
SMOLLM2 = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")

LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
DSV3 = [r"\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+",
        r"""[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""]
DS_LLM_LETTERS = (r"\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\u1f7dᾀ-ᾴᾶ-ᾼ\u1fbeῂ-ῄῆ-ῌῐ-\u1fd3ῖ-\u1fdbῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\u2126ℨ\u212a-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+")


def split(pattern):
    return pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False)


def byte_level(prefix=False, regex=False):
    return pre_tokenizers.ByteLevel(add_prefix_space=prefix, use_regex=regex)


# ---------------------------------------------------------------------------------------------
# 1. trained tokenizer.json files

def corpus():
    text = list(CURATED) * 3
    for mod in ("json/decoder.py", "textwrap.py", "string.py"):
        path = os.path.join(os.path.dirname(os.__file__), mod)
        with open(path, encoding="utf-8") as f:
            text.append(f.read())
    return text


def added_tokens(tok, specials):
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    tok.add_tokens([
        AddedToken("[TOOL]", lstrip=True, rstrip=True, normalized=False, special=False),
        AddedToken("hello world", single_word=True, normalized=True, special=False),
        AddedToken("<think>", normalized=False, special=False),
        AddedToken("</think>", normalized=False, special=False),
    ])


def train_byte_level(name, pre, normalizer=None, ignore_merges=False, vocab_size=1800, string_merges=False):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|endoftext|>", "<|begin_of_text|>"], show_progress=False)
    tok.train_from_iterator(corpus(), trainer)
    added_tokens(tok, ["<|im_start|>", "<|im_end|>"])
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", bos)]),
    ])
    return save(name, tok, string_merges)


def with_byte_fallback(tok):
    """Put <0x00>…<0xFF> into the model vocabulary (as SentencePiece conversions have them)."""
    data = json.loads(tok.to_str())
    vocab = data["model"]["vocab"]
    old = sorted(vocab.items(), key=lambda kv: kv[1])
    specials = [t for t, _ in old[:3]]
    rest = [t for t, _ in old[3:]]
    order = specials + ["<0x%02X>" % b for b in range(256)] + [t for t in rest if not (len(t) == 6 and t.startswith("<0x"))]
    data["model"]["vocab"] = {t: i for i, t in enumerate(order)}
    remap = {old_id: data["model"]["vocab"][t] for t, old_id in old}
    for a in data["added_tokens"]:
        a["id"] = remap.get(a["id"], a["id"])
    return Tokenizer.from_str(json.dumps(data, ensure_ascii=False))


def train_metaspace():
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    trainer = trainers.BpeTrainer(vocab_size=1500, special_tokens=["<unk>", "<s>", "</s>"], limit_alphabet=200,
                                  show_progress=False)
    tok.train_from_iterator(corpus(), trainer)
    tok = with_byte_fallback(tok)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    added_tokens(tok, ["<|im_start|>", "<|im_end|>"])
    return tok


def metaspace_variants():
    base = train_metaspace()
    out = [save("metaspace-bpe", base)]
    legacy = Tokenizer.from_str(base.to_str())
    legacy.pre_tokenizer = None
    legacy.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    legacy.add_special_tokens([AddedToken("<|end|>", rstrip=True, special=True, normalized=False)])
    out.append(save("metaspace-legacy", legacy, string_merges=True))
    splitting = Tokenizer.from_str(base.to_str())
    splitting.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    splitting.decoder = decoders.Sequence([decoders.Metaspace(replacement="▁", prepend_scheme="always"),
                                           decoders.ByteFallback(), decoders.Fuse()])
    out.append(save("metaspace-split", splitting))
    return out


def save(name, tok, string_merges=False):
    data = json.loads(tok.to_str())
    if string_merges:
        data["model"]["merges"] = [" ".join(m) for m in data["model"]["merges"]]
    text = json.dumps(data, ensure_ascii=False, indent=1)
    assert len(text.encode()) < 1_000_000, f"{name}: tokenizer.json is too large"
    os.makedirs(os.path.join(JSON_DIR, name), exist_ok=True)
    with open(os.path.join(JSON_DIR, name, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(text)
    return name, "tokenizer-json/%s/tokenizer.json" % name, Tokenizer.from_str(text)


# ---------------------------------------------------------------------------------------------
# 2./3. GGUF vocabularies rebuilt with `tokenizers`

def gguf_fields(path):
    r = gguf.GGUFReader(path)

    def get(key, kind):
        f = r.fields.get(key)
        if f is None:
            return None
        vals = [f.parts[i] for i in f.data]
        if kind == "str":
            return [bytes(v).decode("utf-8") for v in vals]
        return [v.tolist()[0] for v in vals]

    return {
        "model": get("tokenizer.ggml.model", "str")[0],
        "tokens": get("tokenizer.ggml.tokens", "str"),
        "types": get("tokenizer.ggml.token_type", "num"),
        "merges": get("tokenizer.ggml.merges", "str"),
        "scores": get("tokenizer.ggml.scores", "num"),
        "unk": (get("tokenizer.ggml.unknown_token_id", "num") or [None])[0],
        "bos": (get("tokenizer.ggml.bos_token_id", "num") or [None])[0],
        "eos": (get("tokenizer.ggml.eos_token_id", "num") or [None])[0],
        "add_bos": (get("tokenizer.ggml.add_bos_token", "num") or [False])[0],
        "add_eos": (get("tokenizer.ggml.add_eos_token", "num") or [False])[0],
    }


def sentencepiece_merges(tokens, scores):
    """transformers' SentencePieceExtractor: splits of each token into two tokens, by score."""
    vocab = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    merges = []
    for i, piece in enumerate(tokens):
        if vocab[piece] != i:
            continue
        local = [(piece[:k], piece[k:], scores[i]) for k in range(1, len(piece)) if piece[:k] in vocab and piece[k:] in vocab]
        local.sort(key=lambda x: (vocab[x[0]], vocab[x[1]]))
        merges.extend(local)
    merges.sort(key=lambda m: m[2], reverse=True)
    return [(a, b) for a, b, _ in merges]


GGUF_PIPELINES = {
    "gpt-2": dict(pre=byte_level(regex=True)),
    "mpt": dict(pre=byte_level(regex=True), normalizer=normalizers.NFC()),
    "starcoder": dict(pre=pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level(regex=True)])),
    "refact": dict(pre=pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level(regex=True)])),
    "llama-bpe": dict(pre=pre_tokenizers.Sequence([split(LLAMA3), byte_level()]), ignore_merges=True),
    "qwen2": dict(pre=pre_tokenizers.Sequence([split(QWEN2), byte_level()]), normalizer=normalizers.NFC()),
    "deepseek-llm": dict(pre=pre_tokenizers.Sequence([split(p) for p in
                         ["[\r\n]", DS_LLM_LETTERS, r"\s?[!-/:-~！-／：-～‘-‟　-。]+", r"\s+$", "[一-龥ࠀ-一가-퟿]+", r"\p{N}+"]] + [byte_level()])),
    "deepseek-coder": dict(pre=pre_tokenizers.Sequence([split(p) for p in
                           ["[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", "[一-龥ࠀ-一가-퟿]+", r"\p{N}"]] + [byte_level()])),
    "falcon": dict(pre=pre_tokenizers.Sequence([pre_tokenizers.Punctuation("contiguous"), byte_level(regex=True),
                                                pre_tokenizers.Digits(individual_digits=False), split("[0-9][0-9][0-9]")])),
    "llama-spm": dict(spm=True),
    "phi-3": dict(spm=True),
}


def gguf_tokenizer(path, pipeline):
    g = gguf_fields(path)
    tokens = g["tokens"]
    vocab = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    if pipeline.get("spm"):
        unk = tokens[g["unk"]] if g["unk"] is not None else None
        tok = Tokenizer(models.BPE(vocab, sentencepiece_merges(tokens, g["scores"]), unk_token=unk, fuse_unk=True, byte_fallback=True))
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    else:
        merges = []
        for m in g["merges"]:
            a, b = m.split(" ", 1)
            if a in vocab and b in vocab and a + b in vocab:
                merges.append((a, b))
        tok = Tokenizer(models.BPE(vocab, merges, ignore_merges=pipeline.get("ignore_merges", False)))
        tok.normalizer = pipeline.get("normalizer")
        tok.pre_tokenizer = pipeline["pre"]
        tok.decoder = decoders.ByteLevel()
    # llama.cpp token types: 2 unknown, 3 control -> special; 4 user-defined -> plain added token
    specials = [AddedToken(tokens[i], special=True, normalized=False) for i, t in enumerate(g["types"]) if t in (2, 3)]
    users = [AddedToken(tokens[i], special=False, normalized=False) for i, t in enumerate(g["types"]) if t == 4]
    tok.add_special_tokens(specials)
    tok.add_tokens(users)
    pre = [tokens[g["bos"]]] if g["add_bos"] and g["bos"] is not None else []
    post = [tokens[g["eos"]]] if g["add_eos"] and g["eos"] is not None else []
    if pre or post:
        tok.post_processor = processors.TemplateProcessing(
            single=" ".join(pre + ["$A"] + post), special_tokens=[(t, tokens.index(t)) for t in pre + post])
    return tok


def vectors(name):
    with open(os.path.join(VECTORS, f"ggml-vocab-{name}.gguf.inp"), encoding="utf-8", newline="") as f:
        inputs = f.read().split("\n__ggml_vocab_test__\n")[:-1]
    with open(os.path.join(VECTORS, f"ggml-vocab-{name}.gguf.out"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    return inputs, [[int(x) for x in line.split()] for line in lines[: len(inputs)]]


def check(name, tok, cases, parse_special=False):
    tok.encode_special_tokens = not parse_special
    bad = [s for s, ids in cases if tok.encode(s, add_special_tokens=False).ids != ids]
    tok.encode_special_tokens = False
    if bad:
        raise SystemExit(f"{name}: the rebuilt tokenizer disagrees with the reference ids on {bad[:5]!r}")


def gguf_references():
    out = []
    for name, pipeline in GGUF_PIPELINES.items():
        tok = gguf_tokenizer(os.path.join(VECTORS, f"ggml-vocab-{name}.gguf"), pipeline)
        inputs, ids = vectors(name)
        check(name, tok, zip(inputs, ids))
        print(f"{name}: matches llama.cpp's reference vectors ({time.time() - START:.0f} s)")
        out.append((name, f"tokenizer-vectors/ggml-vocab-{name}.gguf", tok))
    if os.path.exists(SMOLLM2):
        tok = gguf_tokenizer(SMOLLM2, GGUF_PIPELINES["starcoder"])
        with open(os.path.join(FIX, "smollm2", "tokenizer_ids.json"), encoding="utf-8") as f:
            known = json.load(f)
        check("smollm2", tok, [(k["text"], k.get("ids_upstream", k["ids"])) for k in known], parse_special=True)
        out.append(("smollm2", "models/SmolLM2-135M-Instruct.Q4_1.gguf", tok))
    else:
        print(f"note: {SMOLLM2} is missing (run scripts/setup); no SmolLM2 fixture")
    return out


# ---------------------------------------------------------------------------------------------
# 4. fixtures

def write_fixture(name, source, tok, strings):
    tok.encode_special_tokens = True
    plain = [tok.encode(s, add_special_tokens=False).ids for s in strings]
    tok.encode_special_tokens = False
    special = [tok.encode(s, add_special_tokens=False).ids for s in strings]
    decoded = [tok.decode(ids, skip_special_tokens=False) for ids in plain]
    with_specials = [tok.encode(s, add_special_tokens=True).ids for s in strings[:20]]
    data = {"name": name, "source": source, "ids": plain, "ids_special": special, "decoded": decoded,
            "ids_with_special_tokens": with_specials}
    with open(os.path.join(DIFF_DIR, f"{name}.json"), "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")


START = time.time()


def main():
    os.makedirs(DIFF_DIR, exist_ok=True)
    strings = all_strings()
    with open(os.path.join(DIFF_DIR, "strings.json"), "w", encoding="utf-8") as f:
        json.dump(strings, f, ensure_ascii=True, indent=0)
        f.write("\n")
    made = [
        train_byte_level("bytelevel-llama3", pre_tokenizers.Sequence([split(LLAMA3), byte_level()]),
                         normalizer=normalizers.NFC(), ignore_merges=True),
        train_byte_level("bytelevel-gpt2-digits", pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                                           byte_level(prefix=True, regex=True)]), string_merges=True),
        train_byte_level("bytelevel-deepseek-v3", pre_tokenizers.Sequence([split(p) for p in DSV3] + [byte_level()])),
    ] + metaspace_variants() + gguf_references()
    for name, source, tok in made:
        write_fixture(name, source, tok, strings)
        print(f"{name}: {len(strings)} strings ({time.time() - START:.0f} s)")


if __name__ == "__main__":
    main()
