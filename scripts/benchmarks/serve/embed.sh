#!/usr/bin/env bash
# scripts/bench embed: POST /v1/embeddings, moeserve against llama.cpp's server on the same GGUF, side by side.
#
#   scripts/bench embed [--levels 1x1,1x32,4x8] [--texts 256]
#
#   - the same prerequisites as `scripts/bench serve` (scripts/setup, .venv-bench/, llama.cpp's server built
#     natively once, moeserve release unless MOESERVE_BIN);
#   - llama.cpp runs with --embeddings --pooling last (what moeserve does for a model that declares no pooling),
#     one slot per client of the level;
#   - per level CxB (C closed-loop clients, B texts per request), embeds the same corpus of --texts deterministic
#     texts (10-150 tokens) on both, swapping who goes first every level; prints inputs/s, prompt tokens/s,
#     request latency p50 per server, and moeserve ÷ llama.cpp;
#   - then embeds 32 texts one per request on both and prints the cosine similarity of the two servers' vectors.
# A benchmark, not a test: it exits 0 whatever the speeds are, non-zero only if something broke.
# Environment: as scripts/bench serve (MOESERVE_BIN, MOESERVE_ARGS, BENCH_THREADS, KEEP_LOGS, MOESERVE_BENCH_LLAMA).
set -euo pipefail
cd "$(dirname "$0")/../../.."
root="$(pwd)"
here="$root/scripts/benchmarks/serve"
log() { printf '[bench embed] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

levels="1x1,1x32,4x8"
texts=256
while [ $# -gt 0 ]; do
    case "$1" in
        --levels) levels="$2"; shift 2 ;;
        --texts) texts="$2"; shift 2 ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
IFS=',' read -r -a level_list <<<"$levels"
max_clients=1
for l in "${level_list[@]}"; do
    [[ "$l" =~ ^([1-9][0-9]*)x([1-9][0-9]*)$ ]] || die "--levels takes CLIENTSxBATCH items like 4x8, got '$l'"
    [ "${BASH_REMATCH[1]}" -gt "$max_clients" ] && max_clients="${BASH_REMATCH[1]}"
done
threads="${BENCH_THREADS:-$(nproc)}"
model="$root/models/SmolLM2-135M-Instruct.Q4_1.gguf"

scripts/setup >&2
# shellcheck source=../lib.sh
. "$root/scripts/benchmarks/lib.sh"
ensure_bench_venv
ensure_llama_server
ensure_moeserve

workdir="$(mktemp -d /tmp/bench-embed.XXXXXX)"
results="$workdir/results.jsonl"
pids=()
llama_pid=""
cleanup() {
    local rc=$?
    for pid in "${pids[@]}" $llama_pid; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "$rc" -eq 0 ] && [ -z "${KEEP_LOGS:-}" ]; then rm -rf "$workdir"; else log "logs and results kept in $workdir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Until the model is loaded a server may listen but answer 503: wait for /v1/models.
wait_for_models() { # PORT
    for _ in $(seq 1 1200); do
        "$py" -c 'import sys, urllib.request; urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/v1/models", timeout=2)' "$1" \
            >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "no /v1/models on port $1 after 120 s"
}

moeserve_port="$(free_port)"
# shellcheck disable=SC2206  # MOESERVE_ARGS is split on spaces on purpose
moeserve_args=(serve --host 127.0.0.1 --port "$moeserve_port" --model "$model" --max-num-seqs 64 ${MOESERVE_ARGS:-})
log "moeserve: $moeserve ${moeserve_args[*]}"
MOESERVE_LOG_LEVEL="${BENCH_LOG_LEVEL:-warning}" "$moeserve" "${moeserve_args[@]}" >"$workdir/moeserve.log" 2>&1 &
pids+=("$!")
wait_for_port "$moeserve_port" "$!" moeserve
wait_for_models "$moeserve_port"

llama_port="$(free_port)"
launch_llama_server "$model" "$llama_port" "$max_clients" 512 "$workdir/llama.cpp.log" embeddings
wait_for_port "$llama_port" "$llama_pid" llama.cpp
wait_for_models "$llama_port"

run() { # NAME PORT CLIENTS BATCH
    "$py" "$here/embed_load.py" run --url "http://127.0.0.1:$2" --server "$1" --clients "$3" --batch "$4" --texts "$texts" --out "$results"
}
log "levels $levels, $texts texts, llama.cpp threads $threads, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
i=0
for l in "${level_list[@]}"; do
    c="${l%x*}" b="${l#*x}"
    if [ $((i % 2)) -eq 0 ]; then
        run moeserve "$moeserve_port" "$c" "$b"; run llama.cpp "$llama_port" "$c" "$b"
    else
        run llama.cpp "$llama_port" "$c" "$b"; run moeserve "$moeserve_port" "$c" "$b"
    fi
    i=$((i + 1))
done
"$py" "$here/embed_load.py" vectors --url "http://127.0.0.1:$moeserve_port" --out "$workdir/moeserve.json"
"$py" "$here/embed_load.py" vectors --url "http://127.0.0.1:$llama_port" --out "$workdir/llama.json"

echo
echo "scripts/bench embed: $(basename "$model"), last-token pooling, $texts texts; llama.cpp $threads threads; $(nproc) cores"
echo "llama.cpp: $llama_description"
"$py" "$here/embed_load.py" report "$results" --vectors "moeserve=$workdir/moeserve.json" "llama.cpp=$workdir/llama.json"
