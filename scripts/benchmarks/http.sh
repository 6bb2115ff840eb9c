#!/usr/bin/env bash
# scripts/bench http: moeserve's HTTP server against a Hummingbird 2 hello-world, side by side.
#
#   - builds the moeserve release binary and scripts/benchmarks/hummingbird-hello (release);
#   - serves both on loopback; runs wrk against GET /health with 1 and with 256 keep-alive
#     connections, alternating the two servers ROUNDS times, and prints requests/s and p99 latency of
#     the best round of each, and the ratio moeserve/hummingbird;
#   - holds 1,000 idle keep-alive connections against moeserve and prints its RSS before and after.
#
# Environment: DURATION (seconds per wrk run, default 10), ROUNDS (default 2), IDLE (connections,
# default 1000), MOESERVE_PORT / HUMMINGBIRD_PORT (default 18080 / 18081), BENCH_LOG_LEVEL (moeserve's
# log level, default warning: Hummingbird writes no per-request log either; "info" adds the access log).
# Needs the default model (scripts/setup fetches it): moeserve's /health is the real server's.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(pwd)"

DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-2}"
IDLE="${IDLE:-1000}"
MOESERVE_PORT="${MOESERVE_PORT:-18080}"
HUMMINGBIRD_PORT="${HUMMINGBIRD_PORT:-18081}"
BENCH_LOG_LEVEL="${BENCH_LOG_LEVEL:-warning}"
hello="scripts/benchmarks/hummingbird-hello"
log() { printf '[bench] %s\n' "$*" >&2; }

if ! command -v wrk >/dev/null 2>&1; then
    log "installing wrk"
    sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi

log "building moeserve (release)"
swift build -c release --product moeserve >&2
moeserve="$(swift build -c release --show-bin-path)/moeserve"
log "building the Hummingbird hello-world (release)"
swift build -c release --package-path "$hello" >&2
hummingbird="$(swift build -c release --package-path "$hello" --show-bin-path)/HummingbirdHello"

workdir="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$workdir"
}
trap cleanup EXIT

# Until GET /health answers 200 (moeserve answers 503 while its model loads).
wait_for_health() {
    for _ in $(seq 1 600); do
        curl -fsS -o /dev/null "http://127.0.0.1:$1/health" 2>/dev/null && return 0
        sleep 0.2
    done
    log "no healthy server on port $1; its log:"
    tail -n 20 "$workdir"/*.log >&2
    exit 1
}

MOESERVE_LOG_LEVEL="$BENCH_LOG_LEVEL" "$moeserve" serve --host 127.0.0.1 --port "$MOESERVE_PORT" \
    2>"$workdir/moeserve.log" &
moeserve_pid=$!
pids+=("$moeserve_pid")
"$hummingbird" "$HUMMINGBIRD_PORT" >"$workdir/hummingbird.log" 2>&1 &
pids+=("$!")
wait_for_health "$MOESERVE_PORT"
wait_for_health "$HUMMINGBIRD_PORT"

# `wrk_run PORT CONNECTIONS` prints "requests_per_second p99_ms".
wrk_run() {
    local threads=$(( $2 < 2 ? 1 : 2 ))
    wrk -t"$threads" -c"$2" -d"${DURATION}s" --latency "http://127.0.0.1:$1/health" >"$workdir/wrk.out"
    if grep -q "Non-2xx\|Socket errors" "$workdir/wrk.out"; then
        log "errors against port $1:"; grep "Non-2xx\|Socket errors" "$workdir/wrk.out" >&2
    fi
    awk '
        /Requests\/sec:/ { rps = $2 }
        $1 == "99%" {
            v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
            ms = unit == "us" ? v / 1000 : unit == "s" ? v * 1000 : unit == "m" ? v * 60000 : v
        }
        END { printf "%.0f %.3f\n", rps, ms }
    ' "$workdir/wrk.out"
}

log "warm-up"
wrk -t1 -c16 -d2s "http://127.0.0.1:$MOESERVE_PORT/health" >/dev/null
wrk -t1 -c16 -d2s "http://127.0.0.1:$HUMMINGBIRD_PORT/health" >/dev/null

printf '\n%-12s %-12s %12s %10s   %s\n' "connections" "server" "requests/s" "p99 ms" "(best of $ROUNDS alternating ${DURATION}s wrk runs)"
for connections in 1 256; do
    best_m="0 0"; best_h="0 0"
    for round in $(seq 1 "$ROUNDS"); do
        m="$(wrk_run "$MOESERVE_PORT" "$connections")"
        h="$(wrk_run "$HUMMINGBIRD_PORT" "$connections")"
        log "c=$connections round $round: moeserve $m | hummingbird $h"
        [ "${m%% *}" -gt "${best_m%% *}" ] && best_m="$m"
        [ "${h%% *}" -gt "${best_h%% *}" ] && best_h="$h"
    done
    printf '%-12s %-12s %12s %10s\n' "$connections" "moeserve" ${best_m}
    printf '%-12s %-12s %12s %10s\n' "$connections" "hummingbird" ${best_h}
    awk -v m="${best_m%% *}" -v h="${best_h%% *}" -v c="$connections" \
        'BEGIN { printf "%-12s %-12s %12.2f\n", c, "ratio m/h", (h > 0 ? m / h : 0) }'
done

echo
log "holding $IDLE idle keep-alive connections against moeserve"
ulimit -n 65536 2>/dev/null || true
python3 scripts/benchmarks/idle_connections.py --port "$MOESERVE_PORT" --pid "$moeserve_pid" --count "$IDLE"
