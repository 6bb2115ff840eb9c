#!/usr/bin/env python3
"""llama.cpp's side of `scripts/bench cpu` measured by llama.cpp's own benchmark tools instead of its server:
llama-bench (prefill of --prompt-tokens tokens; decode of --decode-steps tokens after --decode-context tokens,
`-d`) and llama-batched-bench (--sequences sequences of --decode-context prompt tokens, then --decode-steps
tokens each: the aggregate generation rate, `speed_tg`). One repetition each: the caller's rounds repeat.

    llamacpp_tools_bench.py --bench BIN --batched-bench BIN --model GGUF --threads T [--decode-steps 64]
                            [--prompt-tokens 512] [--sequences 16] [--decode-context 8]

Prints one JSON line: {"engine": "llama.cpp-tools", "decode_tps", "prefill_tps", "batch_decode_tps"}.
"""
import argparse
import json
import subprocess


def jsonl(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True, help="llama-bench")
    ap.add_argument("--batched-bench", required=True, help="llama-batched-bench")
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--decode-steps", type=int, default=64)
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--sequences", type=int, default=16)
    ap.add_argument("--decode-context", type=int, default=8)
    args = ap.parse_args()
    common = ["-m", args.model, "-t", str(args.threads), "-r", "1", "-o", "jsonl"]
    (prefill,) = jsonl([args.bench, *common, "-p", str(args.prompt_tokens), "-n", "0"])
    (decode,) = jsonl([args.bench, *common, "-p", "0", "-n", str(args.decode_steps), "-d", str(args.decode_context)])
    cells = args.sequences * (args.decode_context + args.decode_steps) + 256
    batched = jsonl([args.batched_bench, "-m", args.model, "-t", str(args.threads), "-tb", str(args.threads),
                     "-c", str(cells), "-npp", str(args.decode_context), "-ntg", str(args.decode_steps),
                     "-npl", str(args.sequences), "--output-format", "jsonl"])
    row = next(r for r in batched if r.get("pl") == args.sequences)
    print(json.dumps({"engine": "llama.cpp-tools", "decode_tps": round(decode["avg_ts"], 1),
                      "prefill_tps": round(prefill["avg_ts"], 1), "batch_decode_tps": round(row["speed_tg"], 1)}))


if __name__ == "__main__":
    main()
