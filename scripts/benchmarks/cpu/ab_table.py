"""The table of `scripts/bench ab`: per engine and figure, each binary's median over the pairs, B/A of the
medians, and how many pairs B won (a pair is one run of each, back to back)."""
import json
import statistics
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
print(f"A = {sys.argv[2]}\nB = {sys.argv[3]}")
print(f"{'engine':<22}{'figure':<18}{'median A':>10}{'median B':>10}{'B/A':>7}  B won")
for engine in sorted({r["engine"] for r in rows}):
    for figure in ("decode_tps", "prefill_tps", "batch_decode_tps"):
        pairs = {}
        for r in rows:
            if r["engine"] == engine and figure in r:
                pairs.setdefault(r["pair"], {})[r["binary"]] = r[figure]
        both = [p for p in pairs.values() if "A" in p and "B" in p]
        if not both:
            continue
        ma, mb = statistics.median(p["A"] for p in both), statistics.median(p["B"] for p in both)
        wins = sum(p["B"] > p["A"] for p in both)
        print(f"{engine:<22}{figure:<18}{ma:>10.1f}{mb:>10.1f}{mb / ma:>7.3f}  {wins}/{len(both)}")
        # Each pair as A/B: the machine drifts between pairs, and a median can hide which way the pairs went.
        print(f"{'':<22}{'pairs A/B':<18}" + " ".join(f"{p['A']:.0f}/{p['B']:.0f}" for p in both))
