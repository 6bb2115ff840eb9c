#!/usr/bin/env bash
# scripts/bench ab A B [--runs N] [-- BENCH ARGS] — two moeserve binaries (e.g. main's and a change's) through
# the same `moeserve bench` N times each (default 6), alternating A, B then B, A so neither always runs
# second, and the table of each figure's median per binary, B/A of the medians, and in how many of the N
# pairs B beat A. These machines drift ±15% from minute to minute: a change is real when the pairs agree,
# not when one run says so. Anything after `--` goes to `moeserve bench` (default: --weights int8
# --decode-steps 64 --rounds 1; e.g. `-- --model ~/.cache/moeserve-bench/synthetic-moe --quantization q8_0`).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
log() { echo "bench ab: $*" >&2; }
die() { log "$*"; exit 1; }

[ $# -ge 2 ] || die "usage: scripts/bench ab A B [--runs N] [-- moeserve bench args]"
a="$1" b="$2"
shift 2
[ -x "$a" ] || die "$a is not an executable"
[ -x "$b" ] || die "$b is not an executable"
runs=6
bench_args=(--weights int8 --decode-steps 64 --rounds 1)
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --) shift; bench_args=("$@"); break ;;
        *) die "unknown argument $1" ;;
    esac
done
[ "$runs" -ge 1 ] 2>/dev/null || die "--runs takes a positive count"
command -v python3 >/dev/null || die "needs python3"

results="$(mktemp /tmp/bench-ab.XXXXXX)"
trap 'rm -f "$results"' EXIT
one() {  # one LABEL BINARY PAIR: its engine lines, tagged
    "$2" bench "${bench_args[@]}" 2>/dev/null | grep '"engine"' | sed "s/^{/{\"binary\": \"$1\", \"pair\": $3, /" >>"$results" \
        || die "$2 bench ${bench_args[*]} failed"
}
log "$runs pairs of: moeserve bench ${bench_args[*]}"
for i in $(seq 1 "$runs"); do
    if [ $((i % 2)) = 1 ]; then one A "$a" "$i"; one B "$b" "$i"; else one B "$b" "$i"; one A "$a" "$i"; fi
    log "pair $i of $runs done"
done
python3 "$here/ab_table.py" "$results" "$a" "$b"
