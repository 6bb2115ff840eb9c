#!/usr/bin/env python3
"""Prints the `scripts/bench cpu` table from its JSON lines, with each row's ratio to llama.cpp."""
import json
import sys

lines = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
rows = [r for r in lines if "engine" in r]
ref = next((r for r in rows if r["engine"] == "llama.cpp"), None)
keys = [("decode_tps", "decode b=1 tok/s"), ("prefill_tps", "prefill 512 tok/s"), ("batch_decode_tps", "decode b=16 tok/s")]
print(f"{'engine':<20}" + "".join(f"{title:>20}{'× llama':>9}" for _, title in keys))
for r in rows:
    cells = ""
    for key, _ in keys:
        ratio = f"{r[key] / ref[key]:.2f}" if ref and ref[key] else "-"
        cells += f"{r[key]:>20.1f}{ratio:>9}"
    print(f"{r['engine']:<20}" + cells)
for r in lines:
    if "max_abs_logit_difference" in r:
        paths = r.get("paths", "fp32 vs quantised")
        print(f"max |Δlogit|, {paths} (16 positions): {r['max_abs_logit_difference']:.2e}")
