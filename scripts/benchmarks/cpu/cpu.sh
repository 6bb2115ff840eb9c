#!/usr/bin/env bash
# scripts/bench cpu — CPU executor throughput on the default model, side by side in one run:
#   moeserve with quantised weights (GGUF blocks as stored) and fp32, int8 or auto activations (auto, the
#   serving default: fp32 for prompts, int8 for generated tokens), moeserve with
#   fp32 weights (the path before quantised kernels), `auto` with its parallel jobs on Dispatch's concurrentPerform
#   instead of the worker pool (moeserve-auto-dispatch: what the pool buys), `auto` on an fp32 KV cache
#   (moeserve-auto-kv-f32, `--kv-cache-dtype f32`: every cached value exact; the other rows keep the serving
#   default, fp16, as llama.cpp's server does), llama.cpp's
#   server on the same GGUF and threads (built once with native flags, see ensure_llama_server in
#   ../lib.sh; MOESERVE_BENCH_LLAMA=prebuilt: xllamacpp's AVX2 wheel) and, as llama.cpp-tools, its own
#   llama-bench and llama-batched-bench on the same figures (the ×llama ratios take the better llama.cpp row), and
#   PyTorch eager (transformers' LlamaForCausalLM on the same GGUF, dequantised to fp32 at load: the
#   model's safetensors form cannot be downloaded here), torch threads = --threads.
# Figures: decode tok/s at batch 1, prefill tok/s for a 512-token prompt, aggregate decode tok/s at
# 16 sequences; best of --rounds, the engines' rounds interleaved (moeserve's paths alternate inside each). Plus a
# read-bandwidth probe (bandwidth_probe.c) before and after, and each engine's decode b=1 as a % of
# that roofline (the weight bytes it reads per decoded token).
#   --rounds N (3)  --torch-rounds N (1)  --decode-steps N (64)  --threads N (nproc; llama.cpp, PyTorch,
#   probe; moeserve uses all cores)  --no-torch
#   --decode-context N (8): the prompt tokens each decoding sequence starts from, for moeserve and llama.cpp
#   (e.g. 1024: decode then reads a long context's KV cache every step; the PyTorch row keeps 8)
# Environment: MOESERVE_BIN (skip the release build), KEEP_LOGS=1.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"
log() { echo "bench cpu: $*" >&2; }
die() { log "$*"; exit 1; }

rounds=3 torch_rounds=1 steps=64 threads="$(nproc)" torch=1 context=8
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --decode-steps) steps="$2"; shift 2 ;;
        --decode-context) context="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --torch-rounds) torch_rounds="$2"; shift 2 ;;
        --no-torch) torch=0; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
model="$root/models/SmolLM2-135M-Instruct.Q4_1.gguf"
[ -f "$model" ] || scripts/setup >&2
# shellcheck source=../lib.sh
. "$root/scripts/benchmarks/lib.sh"
[ "$torch" = 0 ] || ensure_reference_venv
ensure_bench_venv
ensure_llama_server
ensure_moeserve

workdir="$(mktemp -d /tmp/bench-cpu.XXXXXX)"
results="$workdir/results.jsonl"
llama_pid=""
cleanup() {
    local rc=$?
    [ -n "$llama_pid" ] && { kill "$llama_pid" 2>/dev/null || true; wait "$llama_pid" 2>/dev/null || true; }
    if [ "$rc" -eq 0 ] && [ -z "${KEEP_LOGS:-}" ]; then rm -rf "$workdir"; else log "logs kept in $workdir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

probe() {
    "$workdir/bandwidth_probe" "$threads" 1024 8 >>"$results"
}
cc -O3 -march=native -pthread -o "$workdir/bandwidth_probe" "$here/bandwidth_probe.c"
echo "{\"load_average_before\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$results"
record_llama_build
[ "$context" -ge 1 ] 2>/dev/null || die "--decode-context takes a positive token count"
log "model $(basename "$model"), rounds $rounds, decode steps $steps from $context context tokens, threads $threads, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
probe
start_llama_server "$model" "$workdir/llama.cpp.log" $((context + steps))
# Rounds interleaved: one of moeserve (its weight paths alternating inside), then one of llama.cpp (its server
# idles meanwhile), so a slow spell of the machine hits both; table.py keeps each engine's best round.
for round in $(seq 1 "$rounds"); do
    log "round $round of $rounds: moeserve, llama.cpp"
    "$moeserve" bench --model "$model" --decode-steps "$steps" --decode-context "$context" --rounds 1 >>"$results"
    "$moeserve" bench --model "$model" --weights auto --runner dispatch --decode-steps "$steps" --decode-context "$context" \
        --rounds 1 | grep '"engine"' >>"$results"
    "$moeserve" bench --model "$model" --weights auto --kv-cache-dtype f32 --decode-steps "$steps" --decode-context "$context" \
        --rounds 1 | grep '"engine"' >>"$results"
    "$py" "$here/llamacpp_bench.py" --port "$port" --decode-steps "$steps" --decode-context "$context" --rounds 1 >>"$results"
    llama_tools_round "$model"
done
kill "$llama_pid" && wait "$llama_pid" 2>/dev/null || true
llama_pid=""
if [ "$torch" = 1 ]; then
    log "PyTorch eager (transformers, the GGUF dequantised to fp32)"
    "$ref" "$here/torch_bench.py" --model "$(dirname "$model")" --gguf-file "$(basename "$model")" --threads "$threads" \
        --decode-steps "$steps" --rounds "$torch_rounds" >>"$results" 2>"$workdir/torch.log"
fi
probe
echo "{\"load_average_after\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$results"
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
"$py" "$here/table.py" "$results"
