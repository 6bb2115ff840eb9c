#!/usr/bin/env python3
"""`scripts/bench spec`: one stream's greedy chat answers with and without speculative decoding, side by side.

    speculative.py --binary MOESERVE --model GGUF [--rounds 2] [--max-tokens 160]

Starts the server with --speculative-tokens 0 and 5 in turn (alternating, --rounds times), asks each of two prompts
(one whose answer copies a paragraph of the prompt, one free-form) three times and keeps the fastest; prints output
tokens/s per setting and prompt, the speed-up, drafted/accepted tokens from /metrics, and whether the texts are
identical (they must be: speculation never changes the tokens).
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

PARAGRAPH = ("The Rhine rises in the Swiss Alps, flows through Lake Constance, forms part of the border between Germany and "
             "France, and reaches the North Sea in the Netherlands. For centuries it carried goods between the mountains and "
             "the sea, and castles on its banks collected tolls from every boat that passed.")
PROMPTS = {
    "copy": "Repeat this paragraph exactly, word for word:\n\n" + PARAGRAPH,
    "free": "Write a short story about a lighthouse keeper.",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=600))


def serve(binary: str, model: str, tokens: int, log) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([binary, "serve", "--host", "127.0.0.1", "--port", str(port), "--model", model,
                             "--speculative-tokens", str(tokens)], stdout=log, stderr=subprocess.STDOUT, cwd=tempfile.gettempdir(),
                            env={k: v for k, v in os.environ.items() if not k.startswith("MOESERVE_")})
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(url + "/health", timeout=1)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                sys.exit(f"moeserve exited with {proc.returncode}")
            time.sleep(0.1)
    sys.exit("moeserve did not become healthy")


def counter(url: str, name: str) -> float:
    text = urllib.request.urlopen(url + "/metrics", timeout=5).read().decode()
    m = re.search(rf"^{re.escape(name)}{{[^}}]*}} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=160)
    args = ap.parse_args()
    results: dict = {}
    texts: dict = {}
    with tempfile.TemporaryFile() as log:
        for _ in range(args.rounds):
            for k in (0, 5):
                proc, url = serve(args.binary, args.model, k, log)
                try:
                    for name, prompt in PROMPTS.items():
                        body = {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": prompt}],
                                "temperature": 0, "max_tokens": args.max_tokens}
                        best = None
                        for _ in range(3):
                            started = time.perf_counter()
                            r = post(url + "/v1/chat/completions", body)
                            elapsed = time.perf_counter() - started
                            best = elapsed if best is None else min(best, elapsed)
                        n = r["usage"]["completion_tokens"]
                        results.setdefault((name, k), []).append(n / best)
                        texts.setdefault(name, set()).add(r["choices"][0]["message"]["content"])
                    drafted = counter(url, "moeserve:spec_decode_num_draft_tokens_total")
                    accepted = counter(url, "moeserve:spec_decode_num_accepted_tokens_total")
                    results.setdefault(("drafts", k), []).append((drafted, accepted))
                finally:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=30)
    print(f"{'prompt':<6} | {'off tok/s':>18} | {'--speculative-tokens 5':>22} | {'speed-up':>8} | same text")
    for name in PROMPTS:
        off, on = results[(name, 0)], results[(name, 5)]
        print(f"{name:<6} | {' '.join(f'{x:8.1f}' for x in off):>18} | {' '.join(f'{x:8.1f}' for x in on):>22} | "
              f"{max(on) / max(off):8.2f} | {len(texts[name]) == 1}")
    drafted, accepted = map(sum, zip(*results[("drafts", 5)]))
    print(f"drafted {drafted:.0f} tokens, accepted {accepted:.0f} ({100 * accepted / max(1, drafted):.0f}%), over both prompts and rounds")


if __name__ == "__main__":
    main()
