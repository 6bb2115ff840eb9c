#!/usr/bin/env python3
"""`scripts/bench spec --mtp`: one stream's greedy completions of a DeepSeek-V3-shaped model (make_mtp_model.py), without
speculation and with --speculative-method mtp at 1 and 3 drafts a step, side by side.

    mtp.py --binary MOESERVE --model FOLDER [--rounds 2] [--max-tokens 128]

Each setting gets its own server (Q8_0 weights, alternating settings each round), a warm-up request, then the best of
three timed completions of --max-tokens tokens (ignore_eos). Prints tok/s per setting, the ratio to no speculation,
drafted/accepted tokens from /metrics, and whether every setting wrote the same text (it must). The model's MTP layer
is random, so nearly every guess fails: the ratios are what the layer costs, the floor of what it can give.
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from speculative import counter, free_port, post

SETTINGS = {"off": ["--speculative-tokens", "0"], "mtp": ["--speculative-method", "mtp"],
            "mtp x3": ["--speculative-method", "mtp", "--speculative-tokens", "3"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=128)
    args = ap.parse_args()
    speeds: dict = {}
    drafts: dict = {}
    texts = set()
    with tempfile.TemporaryFile() as log:
        for _ in range(args.rounds):
            for name, flags in SETTINGS.items():
                port = free_port()
                proc = subprocess.Popen([args.binary, "serve", "--host", "127.0.0.1", "--port", str(port), "--model", args.model,
                                         "--model-id", "mtp-bench", "--quantization", "q8_0"] + flags,
                                        stdout=log, stderr=subprocess.STDOUT, cwd=tempfile.gettempdir(),
                                        env={k: v for k, v in os.environ.items() if not k.startswith("MOESERVE_")})
                url = f"http://127.0.0.1:{port}"
                try:
                    for _ in range(1200):
                        try:
                            urllib.request.urlopen(url + "/health", timeout=1)
                            break
                        except OSError:
                            if proc.poll() is not None:
                                sys.exit(f"moeserve exited with {proc.returncode}")
                            time.sleep(0.1)
                    body = {"model": "mtp-bench", "prompt": list(range(5, 40)), "max_tokens": args.max_tokens,
                            "temperature": 0, "ignore_eos": True}
                    post(url + "/v1/completions", {**body, "max_tokens": 4})
                    best = None
                    for _ in range(3):
                        started = time.perf_counter()
                        r = post(url + "/v1/completions", body)
                        elapsed = time.perf_counter() - started
                        best = elapsed if best is None else min(best, elapsed)
                    speeds.setdefault(name, []).append(r["usage"]["completion_tokens"] / best)
                    texts.add(r["choices"][0]["text"])
                    drafts[name] = (counter(url, "moeserve:spec_decode_num_draft_tokens_total"),
                                    counter(url, "moeserve:spec_decode_num_accepted_tokens_total"))
                finally:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=30)
    base = max(speeds["off"])
    print(f"{'setting':<8} | {'tok/s (per round)':>22} | {'x off':>6} | drafted | accepted")
    for name in SETTINGS:
        d, a = drafts[name]
        print(f"{name:<8} | {' '.join(f'{x:8.1f}' for x in speeds[name]):>22} | {max(speeds[name]) / base:6.2f} | {d:7.0f} | {a:8.0f}")
    print(f"same text in every setting: {len(texts) == 1}")


if __name__ == "__main__":
    main()
