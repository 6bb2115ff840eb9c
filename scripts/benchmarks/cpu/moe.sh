#!/usr/bin/env bash
# scripts/bench cpu --model synthetic-moe — issue 8's synthetic DeepSeek-V3-shaped MoE (~1.06 G parameters,
# ~1.13 GB as Q8_0), side by side in one run (moeserve's and llama.cpp's rounds interleaved, best of each), same
# threads, same Q8_0 weights:
#   moeserve    the bf16 safetensors folder quantised to Q8_0 at load (--quantization q8_0)
#   llama.cpp   the GGUF made by llama.cpp's own convert_hf_to_gguf.py --outtype q8_0, run by its server (built
#               once with native flags: ensure_llama_server in ../lib.sh; MOESERVE_BENCH_LLAMA=prebuilt: xllamacpp's),
#               and by its own llama-bench and llama-batched-bench (llama.cpp-tools; ×llama takes the better row)
#   PyTorch     transformers' DeepseekV3ForCausalLM, eager, bf16 safetensors, torch threads = --threads
# plus a read-bandwidth probe (bandwidth_probe.c, --threads threads) run before and after, and each engine's
# decode b=1 as a % of that roofline (bytes read per decoded token, from config.json), and a parity check:
# next-token top-5 logprobs of `moeserve serve --quantization q8_0` against llama.cpp's on 8 prompts.
#   --rounds N (3)  --torch-rounds N (1)  --decode-steps N (32)  --threads N (nproc)
#   --weights LIST (quantised,int8,auto: moeserve's activation paths)  --no-torch
#   --decode-context N (8): the prompt tokens each decoding sequence starts from, for moeserve and llama.cpp
#   (the PyTorch row keeps 8)
# Everything generated lives in $MOESERVE_BENCH_CACHE (~/.cache/moeserve-bench), made once: the checkpoint
# (make_synthetic_moe.py, .venv-reference), the llama-cpp-python sdist (for the converter only), the GGUF, and
# llama.cpp's native build (shared with scripts/bench cpu and serve).
# Environment: MOESERVE_BIN (skip the release build), MOESERVE_BENCH_CACHE, KEEP_LOGS=1.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"
log() { echo "bench moe: $*" >&2; }
die() { log "$*"; exit 1; }

rounds=3 torch_rounds=1 steps=32 threads="$(nproc)" weights="quantised,int8,auto" torch=1 context=8
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --torch-rounds) torch_rounds="$2"; shift 2 ;;
        --decode-steps) steps="$2"; shift 2 ;;
        --decode-context) context="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --weights) weights="$2"; shift 2 ;;
        --no-torch) torch=0; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done

cache="${MOESERVE_BENCH_CACHE:-$HOME/.cache/moeserve-bench}"
mkdir -p "$cache"
# shellcheck source=../lib.sh
. "$root/scripts/benchmarks/lib.sh"
ensure_reference_venv
folder="$cache/synthetic-moe"
gguf="$cache/synthetic-moe.Q8_0.gguf"

# 1. The checkpoint (skipped when already made with the same shape and seed).
"$ref" "$here/make_synthetic_moe.py" --out "$folder" --seed 0

# 2. llama.cpp's converter, from the llama-cpp-python sdist on PyPI (checked against the index's sha256).
sdist_version=0.3.19
llama_src="$cache/llama_cpp_python-$sdist_version/vendor/llama.cpp"
if [ ! -f "$llama_src/convert_hf_to_gguf.py" ]; then
    tarball="llama_cpp_python-$sdist_version.tar.gz"
    url="$(curl -sfL https://pypi.org/simple/llama-cpp-python/ | grep -o "https://[^\"]*/$tarball#sha256=[0-9a-f]*" | head -1)"
    [ -n "$url" ] || die "no $tarball on https://pypi.org/simple/llama-cpp-python/"
    log "downloading $tarball (llama.cpp's convert_hf_to_gguf.py and gguf-py)"
    curl -sfL -o "$cache/$tarball" "${url%%#*}"
    echo "${url##*sha256=}  $cache/$tarball" | sha256sum -c --quiet - || die "$tarball: sha256 mismatch"
    tar -xzf "$cache/$tarball" -C "$cache" "llama_cpp_python-$sdist_version/vendor/llama.cpp/convert_hf_to_gguf.py" \
        "llama_cpp_python-$sdist_version/vendor/llama.cpp/gguf-py"
fi

# 3. The GGUF, Q8_0, by that converter (made once; delete it to remake after a new checkpoint).
if [ ! -f "$gguf" ] || [ "$gguf" -ot "$folder/synthetic-moe.json" ]; then
    log "converting to GGUF Q8_0 with llama.cpp's convert_hf_to_gguf.py"
    "$ref" "$here/convert_synthetic_gguf.py" --llama-cpp "$llama_src" --model "$folder" --out "$gguf" >&2
fi

ensure_bench_venv
ensure_llama_server
ensure_moeserve

workdir="$(mktemp -d /tmp/bench-moe.XXXXXX)"
results="$workdir/results.jsonl"
llama_pid="" serve_pid=""
cleanup() {
    local rc=$?
    [ -n "$llama_pid" ] && { kill "$llama_pid" 2>/dev/null || true; wait "$llama_pid" 2>/dev/null || true; }
    [ -n "$serve_pid" ] && { kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; }
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
log "rounds $rounds (PyTorch $torch_rounds), decode steps $steps from $context context tokens, threads $threads, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
probe

weight_args=()
IFS=, read -ra paths <<<"$weights"
for path in "${paths[@]}"; do weight_args+=(--weights "$path"); done
log "llama.cpp starting: $llama_description"
vocab="$("$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["vocab_size"])' "$folder/config.json")"
start_llama_server "$gguf" "$workdir/llama.cpp.log" $((context + steps))
# Rounds interleaved: one of moeserve ($weights alternating inside, Q8_0 at load each time), then one of
# llama.cpp (its server idles meanwhile), so a slow spell of the machine hits both; moe_table.py keeps each
# engine's best round.
for round in $(seq 1 "$rounds"); do
    log "round $round of $rounds: moeserve ($weights), llama.cpp"
    "$moeserve" bench --model "$folder" --quantization q8_0 "${weight_args[@]}" \
        --decode-steps "$steps" --decode-context "$context" --rounds 1 >>"$results"
    "$py" "$here/llamacpp_bench.py" --port "$port" --decode-steps "$steps" --decode-context "$context" --rounds 1 \
        --vocab-size "$vocab" >>"$results"
    llama_tools_round "$gguf"
done

log "parity: next-token logprobs, moeserve serve (Q8_0 at load) vs llama.cpp"
serve_port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$moeserve" serve --model "$folder" --model-id synthetic-moe --quantization q8_0 --port "$serve_port" \
    --kv-cache-memory 256MB >"$workdir/moeserve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 1 1200); do
    grep -q "ready" "$workdir/moeserve.log" && break
    kill -0 "$serve_pid" 2>/dev/null || die "moeserve serve exited while starting; see $workdir/moeserve.log"
    sleep 0.1
done
"$py" "$here/moe_parity.py" --moeserve-port "$serve_port" --llama-port "$port" --vocab-size "$vocab" >>"$results"
kill "$serve_pid" && wait "$serve_pid" 2>/dev/null || true
serve_pid=""
kill "$llama_pid" && wait "$llama_pid" 2>/dev/null || true
llama_pid=""

if [ "$torch" = 1 ]; then
    log "PyTorch eager (transformers, bf16, experts loop)"
    "$ref" "$here/torch_bench.py" --model "$folder" --threads "$threads" --decode-steps "$steps" \
        --rounds "$torch_rounds" >>"$results" 2>"$workdir/torch.log"
fi
probe
echo "{\"load_average_after\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$results"
"$ref" "$here/moe_table.py" "$results" "$folder/config.json" "$(du -b "$gguf" | cut -f1)"
