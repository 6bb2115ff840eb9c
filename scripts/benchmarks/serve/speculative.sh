#!/usr/bin/env bash
# scripts/bench spec: one stream's greedy answers with and without speculative decoding (speculative.py).
#   scripts/bench spec [--rounds 2] [--max-tokens 160]
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
exec "$root/.venv/bin/python" "$root/scripts/benchmarks/serve/speculative.py" --binary "$moeserve" \
    --model "$root/models/SmolLM2-135M-Instruct.Q4_1.gguf" "$@"
