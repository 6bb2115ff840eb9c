#!/usr/bin/env bash
# scripts/bench serve: moeserve against llama.cpp's server on the same GGUF, side by side in one run.
#
#   scripts/bench serve [--levels 1,4,16,64] [--requests N] [--max-tokens 64] [--min-seconds 20]
#                       [--max-seconds 300]
#
#   - runs scripts/setup (default model, .venv/), makes .venv-bench/ and builds llama.cpp's server once with
#     native flags (ensure_llama_server in ../lib.sh; MOESERVE_BENCH_LLAMA=prebuilt: the AVX2 server that the
#     PyPI package xllamacpp ships);
#   - builds moeserve (release) unless MOESERVE_BIN names a binary, and serves it on a free loopback port
#     with --max-num-seqs = the highest level;
#   - per level C, starts llama.cpp's server with C parallel slots and the same thread count, then runs
#     loadgen.py against both, one after the other, swapping who goes first every level to spread the
#     machine's noise; each run: C closed-loop streaming clients, greedy, ignore_eos, exactly
#     --max-tokens output tokens per request, at least --requests (default 3*C) requests and
#     --min-seconds, at most --max-seconds of new requests;
#   - prints output tokens/s, TTFT p50/p90/p99, ITL p50/p99 per level and server, and the ratios.
# A benchmark, not a test: it exits 0 whatever the speeds are, non-zero only if something broke.
#
# Environment: MOESERVE_BIN (a prebuilt binary: skips the build), MOESERVE_ARGS (extra `moeserve serve`
# arguments, e.g. "--config its/own/moeserve.yaml" when MOESERVE_BIN comes from another tree whose
# config keys differ from this one's), BENCH_THREADS (llama.cpp threads; default nproc, which is
# what moeserve's CPU device uses), BENCH_LOG_LEVEL (moeserve's log level, default warning),
# KEEP_LOGS=1 (keep the servers' logs and the raw results; they are kept anyway when a step fails),
# BENCH_OMP_WAIT_POLICY (default empty: OpenMP's own, which spins; PASSIVE for a loaded machine, see below).
set -euo pipefail
cd "$(dirname "$0")/../../.."
root="$(pwd)"
here="$root/scripts/benchmarks/serve"
log() { printf '[bench serve] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

levels="1,4,16,64"
requests=""
max_tokens=64
min_seconds=20
max_seconds=300
while [ $# -gt 0 ]; do
    case "$1" in
        --levels) levels="$2"; shift 2 ;;
        --requests) requests="$2"; shift 2 ;;
        --max-tokens) max_tokens="$2"; shift 2 ;;
        --min-seconds) min_seconds="$2"; shift 2 ;;
        --max-seconds) max_seconds="$2"; shift 2 ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
IFS=',' read -r -a level_list <<<"$levels"
max_level=1
for c in "${level_list[@]}"; do
    [[ "$c" =~ ^[1-9][0-9]*$ ]] || die "--levels takes positive integers, got '$c'"
    [ "$c" -gt "$max_level" ] && max_level="$c"
done
threads="${BENCH_THREADS:-$(nproc)}"
# llama.cpp is built with OpenMP (both builds), whose threads spin at every barrier by default, as moeserve's
# worker pool spins briefly between jobs: on an idle machine each engine runs as it ships. On a loaded one
# (more runnable threads than cores), a spinning thread waits for a descheduled one at each of the hundreds
# of barriers per token (measured at load ~10 on 2 cores: one stream at 3-5 tok/s spinning, 19-25 with
# PASSIVE); BENCH_OMP_WAIT_POLICY=PASSIVE makes llama.cpp's threads block there. On an idle machine PASSIVE
# costs llama.cpp ~2.5x at one client (40 against 100 tok/s, two runs a minute apart).
omp_wait_policy="${BENCH_OMP_WAIT_POLICY-}"
# Only llama.cpp reads it (moeserve and the load generator use no OpenMP).
if [ -n "$omp_wait_policy" ]; then export OMP_WAIT_POLICY="$omp_wait_policy"; fi
model="$root/models/SmolLM2-135M-Instruct.Q4_1.gguf"
# Each llama.cpp slot holds one request: its prompt (under 100 tokens here) plus max_tokens.
ctx_per_slot=$((max_tokens + 256))

# --- prerequisites --------------------------------------------------------------------------------
scripts/setup >&2
# shellcheck source=../lib.sh
. "$root/scripts/benchmarks/lib.sh"
ensure_bench_venv
ensure_llama_server
ensure_moeserve

# --- servers --------------------------------------------------------------------------------------
workdir="$(mktemp -d /tmp/bench-serve.XXXXXX)"
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


moeserve_port="$(free_port)"
moeserve_args=(serve --host 127.0.0.1 --port "$moeserve_port" --model "$model")
# Older binaries (before the batching engine) have no --max-num-seqs: run them anyway, and say so.
if "$moeserve" help serve 2>&1 | grep -q -- '--max-num-seqs'; then
    moeserve_args+=(--max-num-seqs "$max_level")
else
    log "warning: $moeserve has no --max-num-seqs; running with its defaults"
fi
# shellcheck disable=SC2206  # MOESERVE_ARGS is split on spaces on purpose
moeserve_args+=(${MOESERVE_ARGS:-})
log "moeserve: $moeserve ${moeserve_args[*]}"
MOESERVE_LOG_LEVEL="${BENCH_LOG_LEVEL:-warning}" "$moeserve" "${moeserve_args[@]}" \
    >"$workdir/moeserve.log" 2>&1 &
pids+=("$!")
wait_for_port "$moeserve_port" "$!" moeserve

start_llama() { # start_llama SLOTS
    llama_port="$(free_port)"
    launch_llama_server "$model" "$llama_port" "$1" "$ctx_per_slot" "$workdir/llama.cpp-$1.log"
    wait_for_port "$llama_port" "$llama_pid" llama.cpp
}
stop_llama() {
    kill "$llama_pid" 2>/dev/null || true
    wait "$llama_pid" 2>/dev/null || true
    llama_pid=""
}

run() { # run NAME PORT LEVEL
    local extra=()
    [ -n "$requests" ] && extra+=(--requests "$requests")
    "$py" "$here/loadgen.py" run --url "http://127.0.0.1:$2" --server "$1" --level "$3" --out "$results" \
        --max-tokens "$max_tokens" --min-seconds "$min_seconds" --max-seconds "$max_seconds" "${extra[@]}"
}

log "levels ${levels}, max_tokens $max_tokens, llama.cpp threads $threads, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
i=0
for c in "${level_list[@]}"; do
    log "level $c: starting llama.cpp with $c slots"
    start_llama "$c"
    if [ $((i % 2)) -eq 0 ]; then
        run moeserve "$moeserve_port" "$c"; run llama.cpp "$llama_port" "$c"
    else
        run llama.cpp "$llama_port" "$c"; run moeserve "$moeserve_port" "$c"
    fi
    stop_llama
    i=$((i + 1))
done

echo
echo "scripts/bench serve: $(basename "$model"), $max_tokens output tokens per request, greedy, ignore_eos;" \
     "llama.cpp $threads threads, OMP_WAIT_POLICY=${omp_wait_policy:-default}; $(nproc) cores"
echo "llama.cpp: $llama_description"
"$py" "$here/loadgen.py" report "$results"
