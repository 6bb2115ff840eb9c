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
