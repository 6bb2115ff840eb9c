#!/usr/bin/env bash
# scripts/bench tokenizer: encode throughput (MB/s) of MoEServe's tokenizer side by side with Hugging
# Face `tokenizers` (Rust core, called from Python) in the same run, on the same tokenizer.json files
# and the same few MB of mixed text, single-threaded on both sides; prints the ratio MoEServe/HF.
#
#   - builds scripts/benchmarks/tokenizer (a small package whose Tokenizer target is a symlink to
#     Sources/Tokenizer) in release mode;
#   - runs scripts/benchmarks/tokenizer/hf_bench.py with the reference venv (.venv-reference, which has
#     `tokenizers` and `gguf`; see scripts/reference/README.md), which builds Llama-3, Qwen2 and
#     Llama-2 (SentencePiece) tokenizer.json files from the GGUF fixtures, writes the text, and times both.
#
# Environment: SECONDS_PER_RUN (minimum timing per side per round, default 5), ROUNDS (default 2),
# CORPUS_MB (default 4), ONLY (comma-separated subset of llama3,qwen2,llama2-spm).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(pwd)"
bench="scripts/benchmarks/tokenizer"
python="${PYTHON:-$root/.venv-reference/bin/python}"
log() { printf '[bench] %s\n' "$*" >&2; }

[ -x "$python" ] || { log "needs $python with tokenizers and gguf (see scripts/reference/README.md)"; exit 1; }
log "building the tokenizer bench (release)"
swift build -c release --package-path "$bench" >&2
binary="$(swift build -c release --package-path "$bench" --show-bin-path)/TokenizerBench"
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
"$python" "$bench/hf_bench.py" --swift-bench "$binary" --workdir "$workdir" \
    --seconds "${SECONDS_PER_RUN:-5}" --rounds "${ROUNDS:-2}" --mb "${CORPUS_MB:-4}" \
    --only "${ONLY:-llama3,qwen2,llama2-spm}"
