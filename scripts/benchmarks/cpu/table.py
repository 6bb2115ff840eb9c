#!/usr/bin/env python3
"""Prints the `scripts/bench cpu` table from cpu.sh's JSON lines: each engine's three figures with its ratio to
llama.cpp (per figure the better of its server and its benchmark tools: rounds.llama_reference), batch-16 over
batch-1, and decode b=1 as a % of the bandwidth roofline.

Roofline: tok/s × weight bytes read per decoded token / probe bandwidth (the higher of the run's two probes,
each the median of its passes). A decode step reads every weight once: moeserve's resident weights (`weights_mb`:
the GGUF blocks as stored, in rows or 8-row tiles, or fp32), the same GGUF blocks for llama.cpp
(moeserve-quantised's figure), every parameter for PyTorch
(`weight_bytes`). The KV cache read (≤ 80 positions) is under 1% and left out.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rounds import best_of_rounds, first_of, llama_build_line, llama_reference  # noqa: E402

lines = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
rows = best_of_rounds([r for r in lines if "engine" in r])
ref = llama_reference(rows)
probes = [r["gbps"] for r in lines if r.get("probe") == "read"]
bandwidth = max(probes) if probes else 0.0
gguf_blocks = next((r["weights_mb"] * 1e6 for r in rows if r["engine"] == "moeserve-quantised"), 0.0)


def bytes_per_token(r):
    if "weight_bytes" in r:
        return r["weight_bytes"]
    if r.get("weights_mb"):
        return r["weights_mb"] * 1e6
    return gguf_blocks if r["engine"].startswith("llama.cpp") else 0.0


keys = [("decode_tps", "decode b=1"), ("prefill_tps", "prefill 512"), ("batch_decode_tps", "decode b=16")]
print(f"{'engine (tok/s)':<24}" + "".join(f"{title:>13}{'×llama':>8}" for _, title in keys) + f"{'b16/b1':>8}{'roofline':>10}")
for r in rows:
    cells = ""
    for key, _ in keys:
        ratio = f"{r[key] / ref[key]:.2f}" if ref and ref[key] else "-"
        cells += f"{r[key]:>13.1f}{ratio:>8}"
    per_token = bytes_per_token(r)
    roof = f"{100 * r['decode_tps'] * per_token / (bandwidth * 1e9):.0f}%" if bandwidth and per_token else "-"
    ratio16 = f"{r['batch_decode_tps'] / r['decode_tps']:.1f}" if r["decode_tps"] else "-"
    print(f"{r['engine']:<24}" + cells + f"{ratio16:>8}{roof:>10}")
if probes:
    print(f"read bandwidth probe: {', '.join(f'{g:.1f}' for g in probes)} GB/s (medians of 8 passes; the higher, {bandwidth:.1f}, is the roofline's)")
for r in rows:
    per_token = bytes_per_token(r)
    if per_token:
        limit = f" ⇒ roofline {bandwidth * 1e9 / per_token:.0f} tok/s" if bandwidth else ""
        print(f"{r['engine']}: {per_token / 1e6:.1f} MB of weights read per decoded token{limit}")
pool = next((r for r in rows if r["engine"] == "moeserve-auto"), None)
dispatch = next((r for r in rows if r["engine"] == "moeserve-auto-dispatch"), None)
if pool and dispatch:
    print("worker pool / Dispatch concurrentPerform (auto): " + ", ".join(
        f"{title} {pool[key] / dispatch[key]:.2f}×" for key, title in keys if dispatch[key]))
for r in lines:   # one line per weight-path pair; each round repeats them, with the same values
    if "max_abs_logit_difference" in r and r is first_of([x for x in lines if x.get("paths") == r.get("paths")], "max_abs_logit_difference"):
        paths = r.get("paths", "fp32 vs quantised")
        print(f"max |Δlogit|, {paths} (16 positions): {r['max_abs_logit_difference']:.2e}")
build = llama_build_line(lines)
if build:
    print(build)
print("rounds, best of each (moeserve and llama.cpp interleaved): " + ", ".join(f"{r['engine']} {r['rounds']}" for r in rows))
before = next((r["load_average_before"] for r in lines if "load_average_before" in r), None)
after = next((r["load_average_after"] for r in lines if "load_average_after" in r), None)
if before or after:
    print(f"load average before: {before or '?'}, after: {after or '?'}")
