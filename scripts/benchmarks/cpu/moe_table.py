#!/usr/bin/env python3
"""Prints the `scripts/bench cpu --model synthetic-moe` table from moe.sh's JSON lines: each engine's three
figures with its ratio to llama.cpp (per figure the better of its server and its benchmark tools), batch-16
over batch-1, and decode b=1 as a % of the bandwidth roofline.

    moe_table.py results.jsonl FOLDER/config.json GGUF_BYTES

Roofline: tok/s × bytes read per decoded token / probe bandwidth (the higher of the run's two probes, each the
median of its passes). Bytes per token are the active weights, from config.json: every layer's attention, the dense layers' FFN, per MoE layer the
shared experts, the top-k routed experts and the router (f32, as both files keep it), one embedding row and
the lm_head; Q8_0 is 34 bytes per 32 weights (moeserve and llama.cpp), bf16 2 bytes (PyTorch). The KV cache
read (≤ 80 positions × (kv_lora_rank + rope dim) per layer) is under 1% and left out.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_synthetic_moe import parameter_counts  # noqa: E402
from rounds import best_of_rounds, first_of, llama_build_line, llama_reference  # noqa: E402


def bytes_per_token(config, bytes_per_weight):
    c = parameter_counts(config, config["vocab_size"])
    matrices = c["attention"] + c["dense_ffn"] + c["shared_experts"] + c["routed_active"] + c["lm_head"]
    return matrices * bytes_per_weight + config["hidden_size"] * bytes_per_weight + c["router"] * 4


def main():
    lines = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    config = json.load(open(sys.argv[2]))
    gguf_bytes = int(sys.argv[3])
    rows = best_of_rounds([r for r in lines if "engine" in r])
    ref = llama_reference(rows)
    probes = [r["gbps"] for r in lines if r.get("probe") == "read"]
    bandwidth = max(probes) if probes else 0.0
    per_token = {"q8_0": bytes_per_token(config, 34 / 32), "bf16": bytes_per_token(config, 2)}
    keys = [("decode_tps", "decode b=1"), ("prefill_tps", "prefill 512"), ("batch_decode_tps", "decode b=16")]
    print(f"{'engine (tok/s)':<20}" + "".join(f"{title:>13}{'×llama':>8}" for _, title in keys) + f"{'b16/b1':>8}{'roofline':>10}")
    for r in rows:
        cells = ""
        for key, _ in keys:
            ratio = f"{r[key] / ref[key]:.2f}" if ref and ref[key] else "-"
            cells += f"{r[key]:>13.1f}{ratio:>8}"
        fmt = "bf16" if "bf16" in r["engine"] else "q8_0"
        roof = f"{100 * r['decode_tps'] * per_token[fmt] / (bandwidth * 1e9):.0f}%" if bandwidth else "-"
        ratio16 = f"{r['batch_decode_tps'] / r['decode_tps']:.1f}" if r["decode_tps"] else "-"
        print(f"{r['engine']:<20}" + cells + f"{ratio16:>8}{roof:>10}")
    print(f"read bandwidth probe: {', '.join(f'{g:.1f}' for g in probes)} GB/s (medians of 8 passes; the higher, {bandwidth:.1f}, is the roofline's)")
    for fmt, b in per_token.items():
        limit = f" ⇒ roofline {bandwidth * 1e9 / b:.0f} tok/s" if bandwidth else ""
        print(f"bytes read per decoded token, {fmt}: {b / 1e6:.1f} MB{limit}")
    print(f"GGUF (llama.cpp, Q8_0): {gguf_bytes / 1e9:.3f} GB", end="")
    for r in rows:
        if r.get("weights_mb"):
            print(f"; {r['engine']} resident weights: {r['weights_mb'] / 1e3:.3f} GB", end="")
    print()
    for r in rows:
        if "experts_implementation" in r:
            print(f"{r['engine']}: transformers eager, bf16 weights, experts_implementation={r['experts_implementation']}")
    check = first_of(lines, "max_abs_logit_difference")   # each round repeats it, with the same values
    if check:
        print(f"moeserve max |Δlogit| ({check['paths']}, 16 positions): {check['max_abs_logit_difference']:.2e}")
    build = llama_build_line(lines)
    if build:
        print(build)
    print("rounds, best of each (moeserve and llama.cpp interleaved): " + ", ".join(f"{r['engine']} {r['rounds']}" for r in rows))
    for r in lines:
        if "parity" in r:
            print(f"parity, {r['parity']}: top-1 agrees on {r['top1_agree']}/{r['prompts']} prompts, "
                  f"max |Δlogprob| over shared top-5 tokens {r['max_abs_logprob_difference']:.3f}")
    before = next((r["load_average_before"] for r in lines if "load_average_before" in r), "?")
    after = next((r["load_average_after"] for r in lines if "load_average_after" in r), "?")
    print(f"load average before: {before}, after: {after}")


if __name__ == "__main__":
    main()
