"""A client that goes away must stop its request in the engine at once.

Each test starts a request that would run for a long time (ignore_eos, many tokens) over a raw
socket, makes sure the engine is running it (moeserve:num_requests_running == 1), closes the socket,
and measures how long /metrics takes to show 0 running requests: at most 1 s.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from urllib.parse import urlsplit

import pytest

from conftest import API_KEY, MODEL, QUESTION, metric_value, requests_running

# ~25 s of generation at 20 tokens/s: far longer than the 1 s the abort may take.
LONG = {"model": MODEL, "messages": QUESTION, "max_tokens": 512, "ignore_eos": True, "temperature": 0}
ABORT_WITHIN = 1.0


def _wait_running(http, predicate, timeout, what):
    deadline = time.monotonic() + timeout
    value = requests_running(http)
    while not predicate(value):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}; moeserve:num_requests_running={value}")
        time.sleep(0.02)
        value = requests_running(http)
    return value


def _open_request(server_url: str, body: dict) -> socket.socket:
    parts = urlsplit(server_url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    payload = json.dumps(body).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
        f"Content-Type: application/json\r\nAuthorization: Bearer {API_KEY}\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    sock.sendall(head + payload)
    return sock


def _close(sock: socket.socket, how: str) -> None:
    if how == "reset":
        # SO_LINGER 0: the kernel sends RST instead of FIN, as a killed client's would.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    else:
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _counters(http) -> dict[str, float | None]:
    text = http.get("/metrics").body.decode()
    return {
        "aborted": metric_value(text, "moeserve:request_success_total", {"model_name": MODEL, "finished_reason": "abort"}),
        "generated": metric_value(text, "moeserve:generation_tokens_total", {"model_name": MODEL}),
    }


def _measure_abort(http, sock, how) -> None:
    before = _counters(http)
    _close(sock, how)
    start = time.monotonic()
    deadline = start + 3
    while requests_running(http) != 0:
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    elapsed = time.monotonic() - start
    if elapsed > ABORT_WITHIN:
        # Say what the engine did, to tell a missed disconnect from a stale gauge.
        after = _counters(http)
        time.sleep(0.5)
        later = _counters(http)
        pytest.fail(
            f"moeserve:num_requests_running still not 0 {elapsed:.2f} s after the disconnect ({how}); "
            f"aborted requests {before['aborted']} -> {after['aborted']}, generated tokens "
            f"{before['generated']} -> {after['generated']} -> {later['generated']} (0.5 s later)"
        )


def _in_flight(http) -> float:
    """Requests the engine holds: running plus waiting."""
    text = http.get("/metrics").body.decode()
    running = metric_value(text, "moeserve:num_requests_running", {"model_name": MODEL}) or 0
    waiting = metric_value(text, "moeserve:num_requests_waiting", {"model_name": MODEL}) or 0
    return running + waiting


@pytest.fixture
def idle(http):
    """Starts from an idle engine (a failed earlier test may have left a request running)."""
    deadline = time.monotonic() + 15
    while _in_flight(http) != 0:
        if time.monotonic() > deadline:
            pytest.fail(f"engine not idle before the test: {_in_flight(http)} requests in flight")
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["close", "reset"])
def test_streaming_disconnect_aborts(http, server_url, idle, how):
    sock = _open_request(server_url, dict(LONG, stream=True))
    try:
        buf = b""
        # Read the headers and the first SSE event.
        while b"\r\n\r\n" not in buf or b"data: " not in buf.split(b"\r\n\r\n", 1)[1]:
            chunk = sock.recv(4096)
            assert chunk, f"connection closed early: {buf!r}"
            buf += chunk
        assert buf.startswith(b"HTTP/1.1 200"), buf[:200]
        _wait_running(http, lambda v: v >= 1, 10, "the request to run")
        assert _in_flight(http) == 1
    except BaseException:
        sock.close()
        raise
    _measure_abort(http, sock, how)


@pytest.mark.parametrize("how", ["close", "reset"])
def test_non_streaming_disconnect_aborts(http, server_url, idle, how):
    sock = _open_request(server_url, LONG)
    try:
        _wait_running(http, lambda v: v >= 1, 10, "the request to run")
        assert _in_flight(http) == 1
        sock.setblocking(False)
        try:
            early = sock.recv(4096)
        except BlockingIOError:
            early = b""
        assert early == b"", f"the server answered before the disconnect: {early[:200]!r}"
    except BaseException:
        sock.close()
        raise
    _measure_abort(http, sock, how)
