#!/usr/bin/env python3
"""Driver of `scripts/bench tokenizer`: encode throughput of MoEServe's tokenizer vs Hugging Face
`tokenizers` (Rust core, via Python), same tokenizer.json, same text, same run.

1. Builds tokenizer.json files for real vocabularies from the GGUF fixtures (Llama-3, Qwen2,
   Llama-2 SentencePiece) with scripts/reference/make_tokenizer_fixtures.py's pipelines.
2. Writes a few MB of mixed text: Python standard-library source (code), its docstrings (English
   prose), and multilingual text with emoji and numbers; documents of at most 16 KB.
3. For each tokenizer, alternating ROUNDS times: HF `Tokenizer.encode(doc)` over every document on
   one thread (best round), then the Swift bench executable on the same files. Checks that both
   produced the same ids (count and checksum) and prints MB/s side by side with the ratio.
   Also prints HF's `encode_batch` (multi-threaded) for information.

Usage: hf_bench.py --swift-bench PATH [--workdir DIR] [--seconds S] [--rounds N] [--mb MB]
"""

import argparse
import ast
import json
import os
import random
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "reference"))
import make_tokenizer_fixtures as fx  # noqa: E402
from tokenizer_strings import all_strings  # noqa: E402

TOKENIZERS = {"llama3": "llama-bpe", "qwen2": "qwen2", "llama2-spm": "llama-spm"}


def stdlib_files():
    base = os.path.dirname(os.__file__)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d not in ("test", "tests", "site-packages", "idlelib", "__pycache__"))
        for f in sorted(filenames):
            if f.endswith(".py"):
                yield os.path.join(dirpath, f)


def chunks(text, size=16_000):
    out, cur = [], []
    n = 0
    for line in text.splitlines(keepends=True):
        if n + len(line) > size and cur:
            out.append("".join(cur))
            cur, n = [], 0
        cur.append(line)
        n += len(line)
    if cur:
        out.append("".join(cur))
    return out


def corpus(megabytes):
    """~40% code, ~40% English prose, ~20% multilingual text, as documents."""
    budget = int(megabytes * 1_000_000)
    code, prose = [], []
    code_n = prose_n = 0
    for path in stdlib_files():
        with open(path, encoding="utf-8", errors="replace") as f:
            src = f.read()
        if code_n < 0.4 * budget:
            code.extend(chunks(src))
            code_n += len(src.encode())
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and ast.get_docstring(node):
                doc = ast.get_docstring(node)
                prose.append(doc)
                prose_n += len(doc.encode())
        if code_n >= 0.4 * budget and prose_n >= 0.4 * budget:
            break
    rng = random.Random(1)
    strings = all_strings()
    multi, multi_n = [], 0
    while multi_n < 0.2 * budget:
        doc = " ".join(rng.choice(strings) for _ in range(60))
        multi.append(doc)
        multi_n += len(doc.encode())
    prose_docs = chunks("\n\n".join(prose))
    docs = code + prose_docs + multi
    rng.shuffle(docs)
    return docs


def checksum(all_ids):
    s = 0
    for ids in all_ids:
        for i in ids:
            s = (s * 1_000_003 + i) % (1 << 64)
    return s


def time_hf(tok, docs, seconds):
    best, rounds, start = float("inf"), 0, time.perf_counter()
    while rounds < 3 or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        out = [tok.encode(d, add_special_tokens=False).ids for d in docs]
        best = min(best, time.perf_counter() - t)
        rounds += 1
    t = time.perf_counter()
    tok.encode_batch(docs, add_special_tokens=False)
    batch = time.perf_counter() - t
    return best, batch, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--swift-bench", required=True)
    ap.add_argument("--workdir", default="/tmp/moeserve-tokenizer-bench")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--mb", type=float, default=4)
    ap.add_argument("--only", default=",".join(TOKENIZERS))
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    docs = corpus(args.mb)
    corpus_path = os.path.join(args.workdir, "corpus.txt")
    with open(corpus_path, "w", encoding="utf-8") as f:
        f.write("\x1e".join(docs))
    nbytes = sum(len(d.encode()) for d in docs)
    print(f"corpus: {nbytes / 1e6:.2f} MB in {len(docs)} documents (code, English prose, multilingual)")
    print(f"{'tokenizer':<12} {'HF tokenizers MB/s':>19} {'MoEServe MB/s':>14} {'ratio':>6}   {'tokens':>9}  ids  (HF encode_batch, {os.cpu_count()} threads)")
    for name in args.only.split(","):
        gguf_name = TOKENIZERS[name]
        path = os.path.join(fx.VECTORS, f"ggml-vocab-{gguf_name}.gguf")
        tok = fx.gguf_tokenizer(path, fx.GGUF_PIPELINES[gguf_name])
        tdir = os.path.join(args.workdir, name)
        os.makedirs(tdir, exist_ok=True)
        tok.save(os.path.join(tdir, "tokenizer.json"))
        hf_best, swift_best, batch = float("inf"), None, None
        for _ in range(args.rounds):
            t, batch, ids = time_hf(tok, docs, args.seconds)
            hf_best = min(hf_best, t)
            out = subprocess.run([args.swift_bench, "--tokenizer", tdir, "--corpus", corpus_path, "--seconds", str(args.seconds)],
                                 check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            if swift_best is None or r["seconds"] < swift_best["seconds"]:
                swift_best = r
        hf_tokens = sum(len(x) for x in ids)
        same = hf_tokens == swift_best["tokens"] and str(checksum(ids)) == swift_best["checksum"]
        hf_mbps, sw_mbps = nbytes / 1e6 / hf_best, swift_best["mb_per_s"]
        print(f"{name:<12} {hf_mbps:>19.2f} {sw_mbps:>14.2f} {sw_mbps / hf_mbps:>6.2f}   {hf_tokens:>9}  {'same' if same else 'DIFFER'}"
              f"  ({nbytes / 1e6 / batch:.2f} MB/s; Swift load {swift_best['load_seconds']:.2f} s)")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
