# Shared prerequisites of the benchmarks (sourced; the caller defines log and die and sets root).

# py: the Python of .venv-bench/, with xllamacpp (llama.cpp's server, prebuilt on PyPI) installed.
ensure_bench_venv() {
    local venv="$root/.venv-bench"
    if ! "$venv/bin/python" -c 'import xllamacpp' >/dev/null 2>&1; then
        log "creating .venv-bench/ with xllamacpp (llama.cpp's server)"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check xllamacpp
    fi
    py="$venv/bin/python"
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

# start_llama_server MODEL LOG [TOKENS]: llama.cpp's server for `scripts/bench cpu` (16 slots of 640 tokens, or
# of TOKENS + 16 when a sequence needs more; $threads threads) on a free loopback port, waited for (up to
# 120 s); sets port and llama_pid, which the caller's cleanup kills.
start_llama_server() {
    local slot=$((${3:-0} + 16))
    [ "$slot" -ge 640 ] || slot=640
    port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "$py" "$root/scripts/benchmarks/serve/llamacpp_server.py" --model "$1" --port "$port" --parallel 16 \
        --threads "$threads" --ctx-per-slot "$slot" >"$2" 2>&1 &
    llama_pid=$!
    for _ in $(seq 1 1200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        kill -0 "$llama_pid" 2>/dev/null || die "llama.cpp exited while starting; see $2"
        sleep 0.1
    done
}
