# Shared prerequisites of the benchmarks (sourced; the caller defines log and die and sets root).

# The llama.cpp the benchmarks compare against: the release xllamacpp (PyPI) pins. Its wheel ships llama.cpp's
# server prebuilt, with the CPU code compiled for AVX2 only (its system info lists no AVX-512); its sdist
# carries the source (thirdparty/llama.cpp), which ensure_llama_server builds for this CPU.
xllamacpp_version=2026.10.11549

# py: the Python of .venv-bench/, with cmake + ninja (to build llama.cpp) and, for MOESERVE_BENCH_LLAMA=prebuilt
# only, xllamacpp (the prebuilt server).
ensure_bench_venv() {
    local venv="$root/.venv-bench" check="import cmake, ninja" want=(cmake ninja)
    if [ "${MOESERVE_BENCH_LLAMA:-native}" = prebuilt ]; then
        check+="; import xllamacpp, importlib.metadata as m; assert m.version('xllamacpp') == '$xllamacpp_version'"
        want+=("xllamacpp==$xllamacpp_version")
    fi
    if ! "$venv/bin/python" -c "$check" >/dev/null 2>&1; then
        log "making .venv-bench/ (${want[*]})"
        [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${want[@]}"
    fi
    py="$venv/bin/python"
}

# llama_server, llama_bench, llama_batched_bench (after ensure_bench_venv): llama.cpp's own server and benchmark
# tools built with native flags (-DGGML_NATIVE=ON: every instruction set this CPU has, AVX-512 with VNNI and BF16
# on these machines), as issue 8 asks of the comparison, from the source of the same llama.cpp release as the wheel.
# Built once (~5 min on 2 cores), cached per CPU in $MOESERVE_BENCH_CACHE/llama.cpp-VERSION-native-CPU/ (CPU: a
# hash of /proc/cpuinfo's flags).
# MOESERVE_BENCH_LLAMA=prebuilt runs the wheel's server instead (no compiler needed; no tools: llama_bench is
# empty); llama_build says which.
ensure_llama_server() {
    llama_build="${MOESERVE_BENCH_LLAMA:-native}" llama_bench="" llama_batched_bench=""
    case "$llama_build" in
        prebuilt) llama_description="xllamacpp $xllamacpp_version's prebuilt server (AVX2)"; return ;;
        native) ;;
        *) die "MOESERVE_BENCH_LLAMA takes native or prebuilt, not '$llama_build'" ;;
    esac
    local cache="${MOESERVE_BENCH_CACHE:-$HOME/.cache/moeserve-bench}" cpu dir
    cpu="$(grep -m1 '^flags' /proc/cpuinfo | sha256sum | cut -c1-12)"
    dir="$cache/llama.cpp-$xllamacpp_version-native-$cpu"
    llama_server="$dir/llama-server" llama_bench="$dir/llama-bench" llama_batched_bench="$dir/llama-batched-bench"
    llama_description="llama.cpp's server from xllamacpp $xllamacpp_version's source, built here with -DGGML_NATIVE=ON"
    [ -x "$llama_server" ] && [ -x "$llama_bench" ] && [ -x "$llama_batched_bench" ] && return
    if ! command -v c++ >/dev/null 2>&1; then
        local sudo=()
        [ "$(id -u)" -eq 0 ] || sudo=(sudo)
        log "apt-get install g++ (to build llama.cpp)"
        { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends g++ >/dev/null; } ||
            die "building llama.cpp needs a C++ compiler (g++), or set MOESERVE_BENCH_LLAMA=prebuilt"
    fi
    local tarball="xllamacpp-$xllamacpp_version.tar.gz" url work
    url="$(curl -sfL https://pypi.org/simple/xllamacpp/ | grep -o "https://[^\"]*/$tarball#sha256=[0-9a-f]*" | head -1)"
    [ -n "$url" ] || die "no $tarball on https://pypi.org/simple/xllamacpp/"
    work="$(mktemp -d /tmp/llama-build.XXXXXX)"
    log "building llama.cpp's server and benchmark tools ($xllamacpp_version) with native flags, once: ~5 min on 2 cores"
    curl -sfL -o "$work/$tarball" "${url%%#*}" || die "cannot download $tarball"
    echo "${url##*sha256=}  $work/$tarball" | sha256sum -c --quiet - || die "$tarball: sha256 mismatch"
    tar -xzf "$work/$tarball" -C "$work" "xllamacpp-$xllamacpp_version/thirdparty/llama.cpp"
    local src="$work/xllamacpp-$xllamacpp_version/thirdparty/llama.cpp" bin
    bin="$(dirname "$py")"
    (PATH="$bin:$PATH" cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
        -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF &&
        PATH="$bin:$PATH" cmake --build "$work/build" -j "$(nproc)" --target llama-server llama-bench llama-batched-bench
    ) >"$work/build.log" 2>&1 ||
        die "llama.cpp build failed; see $work/build.log (or set MOESERVE_BENCH_LLAMA=prebuilt)"
    mkdir -p "$dir"
    local tool
    for tool in llama-server llama-bench llama-batched-bench; do
        cp "$work/build/bin/$tool" "$dir/$tool.tmp" && mv "$dir/$tool.tmp" "$dir/$tool" || die "cannot install $tool into $dir"
    done
    rm -rf "$work"
}

# ref: the Python of .venv-reference/ (torch for the CPU, transformers, gguf; scripts/reference/README.md), made
# if missing: the PyTorch rows and the synthetic MoE's generator and converter run in it.
ensure_reference_venv() {
    local venv="$root/.venv-reference"
    ref="$venv/bin/python"
    "$ref" -c 'import torch, transformers, gguf, accelerate' >/dev/null 2>&1 && return
    log "making .venv-reference/ (torch for the CPU, transformers, gguf, accelerate; a few minutes)"
    [ -x "$ref" ] || python3 -m venv "$venv" || die "python3 -m venv failed (apt-get install python3-venv)"
    local pip=("$ref" -m pip install --quiet --disable-pip-version-check)
    # The CPU-only torch wheel where pip can find one (plain PyPI torch brings GBs of CUDA libraries).
    "${pip[@]}" 'torch==2.13.0+cpu' 2>/dev/null || "${pip[@]}" torch --index-url https://download.pytorch.org/whl/cpu 2>/dev/null ||
        "${pip[@]}" torch || die "cannot install torch into .venv-reference/"
    "${pip[@]}" -r "$root/scripts/reference/requirements.txt" || die "cannot install scripts/reference/requirements.txt"
}

# moeserve: $MOESERVE_BIN if set, else a fresh release build.
ensure_moeserve() {
    if [ -n "${MOESERVE_BIN:-}" ]; then
        moeserve="$MOESERVE_BIN"
        [ -x "$moeserve" ] || die "MOESERVE_BIN=$moeserve is not an executable"
    else
        log "building moeserve (release)"
        (cd "$root" && swift build -c release --product moeserve >&2)
        moeserve="$(cd "$root" && swift build -c release --show-bin-path)/moeserve"
    fi
}

# launch_llama_server MODEL PORT SLOTS CTX_PER_SLOT LOG [embeddings]: llama.cpp's server (ensure_llama_server's build)
# on 127.0.0.1:PORT in the background with $threads threads, SLOTS slots of CTX_PER_SLOT tokens, no web UI and the
# context as asked (not shrunk to "fit" memory); with `embeddings`, serving /v1/embeddings pooled by the last token
# (as moeserve pools a model that declares nothing); sets llama_pid. OMP_WAIT_POLICY from the environment applies.
launch_llama_server() {
    local embed=()
    if [ "$llama_build" = prebuilt ]; then
        [ "${6:-}" = embeddings ] && embed=(--embeddings)
        "$py" "$root/scripts/benchmarks/serve/llamacpp_server.py" --model "$1" --port "$2" --parallel "$3" \
            --threads "$threads" --ctx-per-slot "$4" "${embed[@]}" >"$5" 2>&1 &
    else
        [ "${6:-}" = embeddings ] && embed=(--embeddings --pooling last)
        "$llama_server" --model "$1" --host 127.0.0.1 --port "$2" --parallel "$3" --ctx-size $(($3 * $4)) \
            --threads "$threads" --threads-batch "$threads" --fit off --no-ui "${embed[@]}" >"$5" 2>&1 &
    fi
    llama_pid=$!
}

# record_llama_build: a {"llama_cpp": description} line in $results, which the tables print.
record_llama_build() {
    "$py" -c 'import json, sys; print(json.dumps({"llama_cpp": sys.argv[1]}))' "$llama_description" >>"$results"
}

# llama_tools_round MODEL: one round of llama.cpp's own benchmark tools (llamacpp_tools_bench.py, the
# llama.cpp-tools row) on MODEL with $threads, $steps and $context, into $results; nothing for the prebuilt server.
llama_tools_round() {
    [ -n "$llama_bench" ] || return 0
    "$py" "$root/scripts/benchmarks/cpu/llamacpp_tools_bench.py" --bench "$llama_bench" --batched-bench "$llama_batched_bench" \
        --model "$1" --threads "$threads" --decode-steps "$steps" --decode-context "$context" >>"$results"
}

# start_llama_server MODEL LOG [TOKENS]: llama.cpp's server for `scripts/bench cpu` (16 slots of 640 tokens, or
# of TOKENS + 16 when a sequence needs more) on a free loopback port, waited for (up to 120 s); sets port and
# llama_pid, which the caller's cleanup kills.
start_llama_server() {
    local slot=$((${3:-0} + 16))
    [ "$slot" -ge 640 ] || slot=640
    port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    launch_llama_server "$1" "$port" 16 "$slot" "$2"
    for _ in $(seq 1 1200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        kill -0 "$llama_pid" 2>/dev/null || die "llama.cpp exited while starting; see $2"
        sleep 0.1
    done
}

# free_port: a free loopback TCP port (after ensure_bench_venv).
free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_for_port PORT PID NAME: waits until something listens on PORT, failing early if PID (the server) died; its logs
# are in $workdir.
wait_for_port() {
    for _ in $(seq 1 1200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || die "$3 exited while starting; see $workdir/$3*.log"
        sleep 0.1
    done
    die "$3 is not listening on port $1 after 120 s; see $workdir"
}
