#!/usr/bin/env python3
"""Load generator and report for `scripts/bench embed`: POST /v1/embeddings against an OpenAI-compatible server.

    embed_load.py run --url URL --server NAME --clients C --batch B --texts N --out results.jsonl
    embed_load.py vectors --url URL --texts N --out vectors.json
    embed_load.py report results.jsonl [--vectors moeserve=a.json llama.cpp=b.json]

`run`: C closed-loop clients share a corpus of N deterministic texts (10 to ~150 tokens of English-like words; a
corpus per level, so no level is served from the previous one's prefix cache), each request carrying the next B
texts (float encoding); every text is sent once. One JSON line per run: inputs/s,
prompt tokens/s (from the server's own usage), request latency p50/p90.
`vectors`: the first N texts one at a time, their unit vectors kept for the agreement check.
`report`: the table, moeserve ÷ llama.cpp ratios per (clients, batch), and the cosine similarity of the two servers'
vectors for the same texts (min and mean): how far apart the two engines' numerics put them.
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
import random
import statistics
import sys
import threading
import time
from urllib.parse import urlsplit

WORDS = ("the of and to in is was for on that with as by at from his her an which their this are be have one had "
         "model server cache token batch expert layer memory bandwidth latency vector embedding search query answer "
         "river mountain city history science music garden window yellow quickly between because although "
         "Paris London Tokyo Nairobi 1969 2024 42 3.14 photosynthesis mitochondria compiler kernel").split()


def corpus(n: int, seed: int = 1234) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 110))]
        texts.append(f"Document {i}: " + " ".join(words) + ".")
    return texts


def post(url: str, body: dict, model: str | None) -> dict:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
    try:
        payload = dict(body)
        if model:
            payload["model"] = model
        conn.request("POST", "/v1/embeddings", json.dumps(payload), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{url}: HTTP {resp.status}: {data[:300]!r}")
        return json.loads(data)
    finally:
        conn.close()


def model_id(url: str) -> str:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("GET", "/v1/models")
    models = json.loads(conn.getresponse().read())
    conn.close()
    return models["data"][0]["id"]


def run(args: argparse.Namespace) -> None:
    # Texts of their own per level (the same on both servers), so no level finds the last one's in a prefix cache.
    texts = corpus(args.texts, seed=1000 * args.clients + args.batch)
    model = model_id(args.url)
    post(args.url, {"input": ["warm-up"], "encoding_format": "float"}, model)
    batches = [texts[i:i + args.batch] for i in range(0, len(texts), args.batch)]
    lock = threading.Lock()
    latencies: list[float] = []
    tokens = [0]
    errors: list[str] = []

    def client() -> None:
        while True:
            with lock:
                if not batches:
                    return
                batch = batches.pop(0)
            started = time.perf_counter()
            try:
                body = post(args.url, {"input": batch, "encoding_format": "float"}, model)
            except Exception as err:  # noqa: BLE001: reported below
                with lock:
                    errors.append(str(err))
                return
            elapsed = time.perf_counter() - started
            assert len(body["data"]) == len(batch)
            with lock:
                latencies.append(elapsed)
                tokens[0] += body["usage"]["prompt_tokens"]

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if errors:
        sys.exit(f"{args.server}: {len(errors)} failed requests, first: {errors[0]}")
    latencies.sort()
    row = {"server": args.server, "clients": args.clients, "batch": args.batch, "texts": len(texts), "seconds": wall,
           "inputs_per_s": len(texts) / wall, "tokens_per_s": tokens[0] / wall, "prompt_tokens": tokens[0],
           "p50_ms": 1e3 * statistics.median(latencies), "p90_ms": 1e3 * latencies[int(0.9 * (len(latencies) - 1))]}
    with open(args.out, "a") as f:
        f.write(json.dumps(row) + "\n")
    print(f"{args.server}: {row['inputs_per_s']:.1f} inputs/s, {row['tokens_per_s']:.0f} tok/s", file=sys.stderr)


def vectors(args: argparse.Namespace) -> None:
    texts = corpus(args.texts)
    model = model_id(args.url)
    out = [post(args.url, {"input": t, "encoding_format": "float"}, model)["data"][0]["embedding"] for t in texts]
    with open(args.out, "w") as f:
        json.dump(out, f)


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def report(args: argparse.Namespace) -> None:
    rows = [json.loads(line) for line in open(args.results) if line.strip()]
    by = {(r["server"], r["clients"], r["batch"]): r for r in rows}
    print(f"{'clients':>7} {'batch':>5} | {'moeserve inputs/s':>17} {'tok/s':>7} {'p50 ms':>7} | "
          f"{'llama.cpp inputs/s':>18} {'tok/s':>7} {'p50 ms':>7} | {'ratio':>5}")
    for clients, batch in sorted({(r["clients"], r["batch"]) for r in rows}):
        m, l = by.get(("moeserve", clients, batch)), by.get(("llama.cpp", clients, batch))
        cells = []
        for r in (m, l):
            cells.append(f"{r['inputs_per_s']:>17.1f} {r['tokens_per_s']:>7.0f} {r['p50_ms']:>7.0f}" if r else f"{'-':>17} {'-':>7} {'-':>7}")
        ratio = f"{m['inputs_per_s'] / l['inputs_per_s']:>5.2f}" if m and l else "    -"
        print(f"{clients:>7} {batch:>5} | {cells[0]} | {cells[1]:>34} | {ratio}")
    if args.vectors:
        named = dict(v.split("=", 1) for v in args.vectors)
        a, b = (json.load(open(named[k])) for k in ("moeserve", "llama.cpp"))
        sims = [cosine(x, y) for x, y in zip(a, b)]
        print(f"\nagreement over {len(sims)} texts, one per request: cosine(moeserve, llama.cpp) "
              f"min {min(sims):.5f}, mean {statistics.mean(sims):.5f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--url", required=True)
    r.add_argument("--server", required=True)
    r.add_argument("--clients", type=int, required=True)
    r.add_argument("--batch", type=int, required=True)
    r.add_argument("--texts", type=int, default=256)
    r.add_argument("--out", required=True)
    v = sub.add_parser("vectors")
    v.add_argument("--url", required=True)
    v.add_argument("--texts", type=int, default=32)
    v.add_argument("--out", required=True)
    p = sub.add_parser("report")
    p.add_argument("results")
    p.add_argument("--vectors", nargs="*")
    args = ap.parse_args()
    {"run": run, "vectors": vectors, "report": report}[args.command](args)


if __name__ == "__main__":
    main()
