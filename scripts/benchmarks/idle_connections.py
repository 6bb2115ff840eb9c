#!/usr/bin/env python3
"""Opens COUNT keep-alive connections to a server on loopback, sends one GET /health on each, holds
them idle and prints the server's resident memory (VmRSS of --pid) before, while held, and after
closing. A server that keeps per-connection state small shows a flat line; one that spends a thread
or a large buffer per connection does not. Bounded: it holds the connections for --hold seconds."""
import argparse
import socket
import time


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def request(sock: socket.socket) -> None:
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: bench\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("server closed the connection")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    while len(body) < length:
        body += sock.recv(4096)
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.split(b"\r\n")[0].decode())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--hold", type=float, default=3.0)
    args = parser.parse_args()

    before = rss_kib(args.pid)
    connections = []
    for _ in range(args.count):
        sock = socket.create_connection(("127.0.0.1", args.port), timeout=10)
        request(sock)
        connections.append(sock)
    time.sleep(args.hold)
    held = rss_kib(args.pid)
    # The server still answers a new client while holding them all, and the old ones still work.
    probe = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    request(probe)
    request(connections[0])
    request(connections[-1])
    probe.close()
    for sock in connections:
        sock.close()
    time.sleep(1.0)
    after = rss_kib(args.pid)
    per_connection = (held - before) / max(args.count, 1)
    print(f"idle keep-alive connections: {args.count}")
    print(f"moeserve RSS before:          {before / 1024:8.1f} MiB")
    print(f"moeserve RSS while held:      {held / 1024:8.1f} MiB  (+{per_connection:.1f} KiB per connection)")
    print(f"moeserve RSS after closing:   {after / 1024:8.1f} MiB")


if __name__ == "__main__":
    main()
