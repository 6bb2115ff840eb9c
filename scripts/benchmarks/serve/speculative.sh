#!/usr/bin/env bash
# scripts/bench spec: one stream's greedy answers with and without speculative decoding (speculative.py).
#   scripts/bench spec [--rounds 2] [--max-tokens 160]
#   scripts/bench spec --mtp [--rounds 2] [--max-tokens 128]: DeepSeek's MTP layer on a 450 M-parameter DeepSeek-V3-shaped
#       checkpoint made once by make_mtp_model.py (.venv-reference) in $MOESERVE_BENCH_CACHE (mtp.py)
# Builds moeserve (release) unless MOESERVE_BIN names a binary. A benchmark, not a test: exits 0 whatever the speeds.
set -euo pipefail
cd "$(dirname "$0")/../../.."
root="$(pwd)"
log() { printf '[bench spec] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
scripts/setup >&2
# shellcheck source=../lib.sh
. "$root/scripts/benchmarks/lib.sh"
ensure_moeserve
log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${1:-}" = "--mtp" ]; then
    shift
    ensure_reference_venv
    folder="${MOESERVE_BENCH_CACHE:-$HOME/.cache/moeserve-bench}/mtp-deepseek"
    log "the MTP model: $folder (made once)"
    "$ref" "$root/scripts/benchmarks/serve/make_mtp_model.py" --out "$folder"
    exec "$root/.venv/bin/python" "$root/scripts/benchmarks/serve/mtp.py" --binary "$moeserve" --model "$folder" "$@"
fi
exec "$root/.venv/bin/python" "$root/scripts/benchmarks/serve/speculative.py" --binary "$moeserve" \
    --model "$root/models/SmolLM2-135M-Instruct.Q4_1.gguf" "$@"
