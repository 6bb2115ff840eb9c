#!/usr/bin/env python3
"""llama.cpp's side of `scripts/bench cpu`: the same three figures as `moeserve bench`, read from the
`timings` llama.cpp's server reports per request (llama.cpp's server, started by cpu.sh or moe.sh).

    llamacpp_bench.py --port P --decode-steps 64 --prompt-tokens 512 --sequences 16 --decode-context 8 --rounds 3
                      [--vocab-size V]

Token ids are those of Bench.swift, taken modulo --vocab-size when given (the synthetic MoE's vocabulary is small);
each decoding sequence starts from --decode-context prompt tokens, as `moeserve bench --decode-context`.

Prints one JSON line: {"engine": "llama.cpp", "decode_tps", "prefill_tps", "batch_decode_tps"} (best round).
"""
import argparse
import json
import threading
import time
import urllib.error
import urllib.request


def complete(port, prompt, n_predict, cache_prompt=False):
    body = {"prompt": prompt, "n_predict": n_predict, "temperature": 0, "cache_prompt": cache_prompt, "ignore_eos": True}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/completion", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.load(r)["timings"]


def wait_until_ready(port, seconds=120):
    """The server listens before its model is loaded (503 until then)."""
    deadline = time.time() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
                return
        except (urllib.error.URLError, ConnectionError):
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def decode(port, steps, sequences, vocab, context=8):
    """Generated tokens per second over all sequences: Σ predicted_n / the longest decode phase. As moeserve
    bench does, the prompts are in the cache before the clock starts: a first pass prefills each sequence's
    prompt into its slot (cache_prompt), so the measured pass decodes only (without it, a long context's
    sequences decode while the server still prefills the others' prompts in the same batches)."""
    results = [None] * sequences
    prompts = [[(500 + 37 * i + j) % vocab for j in range(context)] for i in range(sequences)]

    def run(n_predict, keep):
        def one(i):
            results[i] = complete(port, prompts[i], n_predict, cache_prompt=True)
            assert not keep or results[i]["prompt_n"] <= 1, f"sequence {i} reprocessed {results[i]['prompt_n']} prompt tokens"

        threads = [threading.Thread(target=one, args=(i,)) for i in range(sequences)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    run(1, False)
    run(steps, True)
    return sum(r["predicted_n"] for r in results) / (max(r["predicted_ms"] for r in results) / 1000)


def prefill(port, tokens, vocab):
    return complete(port, [(1000 + i % 5000) % vocab for i in range(tokens)], 1)["prompt_per_second"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--decode-steps", type=int, default=64)
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--sequences", type=int, default=16)
    ap.add_argument("--decode-context", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--vocab-size", type=int, default=1 << 31)
    ap.add_argument("--engine", default="llama.cpp", help="name in the JSON line")
    args = ap.parse_args()
    vocab = args.vocab_size
    wait_until_ready(args.port)
    complete(args.port, [1, 2, 3], 4)  # warm-up
    best = {"decode_tps": 0.0, "prefill_tps": 0.0, "batch_decode_tps": 0.0}
    for _ in range(args.rounds):
        best["decode_tps"] = max(best["decode_tps"], decode(args.port, args.decode_steps, 1, vocab, args.decode_context))
        best["prefill_tps"] = max(best["prefill_tps"], prefill(args.port, args.prompt_tokens, vocab))
        best["batch_decode_tps"] = max(best["batch_decode_tps"],
                                       decode(args.port, args.decode_steps, args.sequences, vocab, args.decode_context))
    print(json.dumps({"engine": args.engine, **{k: round(v, 1) for k, v in best.items()}}))


if __name__ == "__main__":
    main()
