"""Merging the JSON lines of interleaved rounds (cpu.sh and moe.sh run one round of each engine in turn, so
a slow spell of this shared machine hits every engine alike instead of whichever ran during it).

best_of_rounds: one row per engine, in first-seen order, each figure the best of its rounds, the rest of the
row (weights_mb, weight_bytes, ...) from its first round; `rounds` counts them.
first_of: the first line carrying `key` (moeserve bench repeats its logit check every round).
llama_build_line: the table's line naming the llama.cpp build (record_llama_build in lib.sh), or None.
llama_reference: what the ×llama columns divide by, per figure the best of llama.cpp's rows (its server's
`timings`, and its own benchmark tools where they ran): the stronger llama.cpp figure, whichever measured it.
"""

FIGURES = ("decode_tps", "prefill_tps", "batch_decode_tps")


def best_of_rounds(rows):
    merged = {}
    for r in rows:
        m = merged.setdefault(r["engine"], {**r, "rounds": 0})
        m["rounds"] += 1
        for key in FIGURES:
            if key in r:
                m[key] = max(m.get(key, 0.0), r[key])
    return list(merged.values())


def first_of(lines, key):
    return next((r for r in lines if key in r), None)


def llama_reference(rows):
    llama = [r for r in rows if r["engine"].startswith("llama.cpp")]
    if not llama:
        return None
    return {key: max(r.get(key, 0.0) for r in llama) for key in FIGURES}


def llama_build_line(lines):
    build = first_of(lines, "llama_cpp")
    return f"llama.cpp: {build['llama_cpp']}; ×llama divides by the better of its rows per figure" if build else None
