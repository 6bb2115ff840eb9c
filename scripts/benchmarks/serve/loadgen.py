#!/usr/bin/env python3
"""Streaming chat-completion load generator for scripts/bench serve. Standard library only.

    loadgen.py run --url http://127.0.0.1:P --server NAME --level C --out results.jsonl [options]
        C closed-loop clients each send streaming /v1/chat/completions one after another until at
        least --requests were started and --min-seconds passed (never past --max-seconds or
        --max-requests); appends one JSON record with the level's measurements to --out.
    loadgen.py report results.jsonl
        prints the side-by-side table and the ratios of the first server to the second.

Raw HTTP/1.1 over asyncio sockets rather than an HTTP library, so the timestamps are taken the moment
the bytes arrive, and no third-party client's buffering sits between the server and the clock.
Per request: TTFT = send -> first non-empty content delta; ITL = gaps between content deltas;
E2E = send -> end of stream. Output tokens come from the final `usage` chunk (include_usage).
"""
import argparse
import asyncio
import json
import math
import os
import sys
import time
from urllib.parse import urlsplit

# Varied prompts of different lengths, used in order (request i gets PROMPTS[i % len]) so both
# servers see exactly the same sequence.
PROMPTS = [
    "Write a short poem about the sea.",
    "Explain what a hash table is.",
    "List three uses of copper.",
    "What causes the seasons on Earth?",
    "Give me a recipe for pancakes.",
    "Describe the water cycle in simple terms for a ten-year-old who has never heard of it.",
    "Why is the sky blue?",
    "Summarize the plot of a detective story in which the butler did not do it.",
    "What are the benefits of regular exercise?",
    "Translate 'good morning, how are you?' into French and explain the grammar.",
    "Tell me a fun fact about octopuses.",
    "How does a bicycle stay upright while it moves?",
    "Write a haiku about autumn leaves.",
    "What is the difference between weather and climate? Give two examples of each.",
    "Suggest five names for a small bakery in a mountain village.",
    "Explain recursion to a beginner programmer, with a small example in Python.",
    "What should I pack for a weekend camping trip in the forest during early spring?",
    "Describe how bread rises.",
    "Why do cats purr?",
    "Give three tips for writing clear emails at work, and explain why each one helps.",
    "What is photosynthesis?",
    "Write the opening sentence of a science fiction novel set on a moon of Jupiter.",
    "How do vaccines train the immune system?",
    "Compare trains and planes for a 500 km trip: time, cost, comfort and emissions.",
]
SEED = 1234
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def percentile(values, q):
    """Linear-interpolated percentile (numpy's default); None for no values."""
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


class HTTPError(Exception):
    pass


async def http_post_stream(host, port, path, body, on_data):
    """POSTs `body` (bytes) and calls on_data(bytes) for each piece of the response body as it arrives.
    Connection: close keeps the framing simple; a loopback connect costs both servers the same."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
             f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
            + body)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip().lower()
        if status != 200:
            rest = await reader.read(2000)
            raise HTTPError(f"HTTP {status}: {rest[:300]!r}")
        if "chunked" in headers.get("transfer-encoding", ""):
            while True:
                size = int((await reader.readline()).split(b";")[0].strip(), 16)
                if size == 0:
                    break
                on_data(await reader.readexactly(size))
                await reader.readexactly(2)  # CRLF after each chunk
        elif "content-length" in headers:
            on_data(await reader.readexactly(int(headers["content-length"])))
        else:
            while piece := await reader.read(65536):
                on_data(piece)
    finally:
        writer.close()


async def http_get_json(host, port, path):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    if b"chunked" in head.lower():
        out, rest = b"", body
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        body = out
    status = int(head.split()[1])
    if status != 200:
        raise HTTPError(f"GET {path}: HTTP {status}")
    return json.loads(body)


async def one_request(host, port, model, prompt, max_tokens, timeout):
    body = json.dumps({
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "seed": SEED,
        "stream": True,
        "stream_options": {"include_usage": True},
        # Both servers take ignore_eos, so every request generates exactly max_tokens.
        "ignore_eos": True,
    }).encode()
    r = {"ok": False, "content_times": [], "usage_tokens": None, "finish": None, "error": None}
    buf = bytearray()

    def on_data(data):
        now = time.perf_counter()
        buf.extend(data)
        while (nl := buf.find(b"\n")) >= 0:
            line = bytes(buf[:nl]).strip()
            del buf[:nl + 1]
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                continue
            event = json.loads(payload)
            for choice in event.get("choices") or []:
                if (choice.get("delta") or {}).get("content"):
                    r["content_times"].append(now)
                if choice.get("finish_reason"):
                    r["finish"] = choice["finish_reason"]
            if event.get("usage"):
                r["usage_tokens"] = event["usage"].get("completion_tokens")

    r["start"] = time.perf_counter()
    try:
        await asyncio.wait_for(http_post_stream(host, port, "/v1/chat/completions", body, on_data), timeout)
        r["ok"] = bool(r["content_times"])
        if not r["ok"]:
            r["error"] = "no content"
    except asyncio.TimeoutError:
        r["error"] = f"timeout after {timeout}s"
    except Exception as e:  # noqa: BLE001 - a benchmark reports errors, it does not stop on them
        r["error"] = f"{type(e).__name__}: {e}"
    r["end"] = time.perf_counter()
    return r


async def run_level(args):
    u = urlsplit(args.url)
    host, port = u.hostname, u.port
    if host not in LOOPBACK:
        sys.exit(f"loadgen: refusing non-loopback host {host}")

    # Wait until the server is ready (both listen before the model is loaded and answer 503 until
    # then), learn the model id it expects, and send one short unmeasured request so first-use costs
    # (page faults, allocations) stay out of the numbers.
    deadline = time.monotonic() + 120
    while True:
        try:
            model = (await http_get_json(host, port, "/v1/models"))["data"][0]["id"]
            warm = await one_request(host, port, model, PROMPTS[0], 8, args.request_timeout)
            if warm["ok"]:
                break
            error = warm["error"]
        except Exception as e:  # noqa: BLE001
            error = f"{type(e).__name__}: {e}"
        if time.monotonic() > deadline:
            sys.exit(f"loadgen: {args.server} not ready after 120 s: {error}")
        await asyncio.sleep(0.5)

    results = []
    issued = 0
    t0 = time.perf_counter()

    async def client():
        nonlocal issued
        while issued < args.max_requests:
            elapsed = time.perf_counter() - t0
            if elapsed >= args.max_seconds or (issued >= args.requests and elapsed >= args.min_seconds):
                return
            i = issued
            issued += 1
            results.append(await one_request(host, port, model, PROMPTS[i % len(PROMPTS)],
                                             args.max_tokens, args.request_timeout))

    load_before = os.getloadavg()[0]
    await asyncio.gather(*(client() for _ in range(args.level)))
    t_end = max(r["end"] for r in results)

    ok = [r for r in results if r["ok"]]
    ttft = [(r["content_times"][0] - r["start"]) * 1000 for r in ok]
    itl = [(b - a) * 1000 for r in ok for a, b in zip(r["content_times"], r["content_times"][1:])]
    e2e = [(r["end"] - r["start"]) * 1000 for r in ok]
    # Tokens per request: usage.completion_tokens when the server sent it, else the content deltas.
    tokens = [r["usage_tokens"] if r["usage_tokens"] is not None else len(r["content_times"]) for r in ok]
    deltas = [len(r["content_times"]) for r in ok]
    errors = [r["error"] for r in results if not r["ok"]]
    # Tokens that failed (e.g. timed-out) requests did stream still count towards throughput: leaving
    # them out would report 0 tok/s for a server that was merely slower than --request-timeout.
    partial = sum(len(r["content_times"]) for r in results if not r["ok"])
    record = {
        "server": args.server, "level": args.level, "max_tokens": args.max_tokens,
        "requests": len(results), "ok": len(ok), "errors": len(errors), "error_samples": errors[:3],
        "seconds": t_end - t0,
        "tok_s": (sum(tokens) + partial) / (t_end - t0),
        "partial_tokens": partial,
        "tokens_min": min(tokens, default=0), "tokens_max": max(tokens, default=0),
        "deltas_min": min(deltas, default=0), "deltas_max": max(deltas, default=0),
        "usage_missing": sum(r["usage_tokens"] is None for r in ok),
        "finish": sorted({r["finish"] or "none" for r in ok}),
        "ttft_p50": percentile(ttft, 50), "ttft_p90": percentile(ttft, 90), "ttft_p99": percentile(ttft, 99),
        "itl_p50": percentile(itl, 50), "itl_p99": percentile(itl, 99),
        "e2e_p50": percentile(e2e, 50),
        "load_before": load_before, "load_after": os.getloadavg()[0],
    }
    with open(args.out, "a") as f:
        f.write(json.dumps(record) + "\n")
    print(f"[loadgen] {args.server:<9} c={args.level:<3} {record['ok']}/{record['requests']} ok "
          f"in {record['seconds']:.1f}s, {record['tok_s']:.1f} tok/s, TTFT p50 {fmt(record['ttft_p50'])} ms, "
          f"tokens/request {record['tokens_min']}-{record['tokens_max']}", file=sys.stderr)
    for e in errors[:3]:
        print(f"[loadgen]   error: {e}", file=sys.stderr)


def fmt(v, digits=0):
    return "-" if v is None else f"{v:.{digits}f}"


def report(path):
    records = [json.loads(line) for line in open(path) if line.strip()]
    servers = list(dict.fromkeys(r["server"] for r in records))
    levels = sorted({r["level"] for r in records})
    by = {(r["server"], r["level"]): r for r in records}
    header = (f"{'clients':>7}  {'server':<10} {'ok/reqs':>8} {'tok/req':>8} {'out tok/s':>9}  "
              f"{'TTFT p50':>8} {'p90':>7} {'p99':>7}  {'ITL p50':>7} {'p99':>6}  {'E2E p50':>7}  {'load':>4}")
    print(header)
    print(f"{'':>7}  {'':<10} {'':>8} {'':>8} {'':>9}  {'(ms)':>8} {'':>7} {'':>7}  {'(ms)':>7} {'':>6}  {'(ms)':>7}")
    warnings = []
    for level in levels:
        for s in servers:
            r = by.get((s, level))
            if r is None:
                continue
            toks = f"{r['tokens_min']}" if r["tokens_min"] == r["tokens_max"] else f"{r['tokens_min']}-{r['tokens_max']}"
            print(f"{level:>7}  {s:<10} {r['ok']:>4}/{r['requests']:<3} {toks:>8} {r['tok_s']:>9.1f}  "
                  f"{fmt(r['ttft_p50']):>8} {fmt(r['ttft_p90']):>7} {fmt(r['ttft_p99']):>7}  "
                  f"{fmt(r['itl_p50'], 1):>7} {fmt(r['itl_p99'], 1):>6}  {fmt(r['e2e_p50']):>7}  "
                  f"{r['load_after']:>4.1f}")
            if r["ok"] and (r["tokens_min"] != r["max_tokens"] or r["tokens_max"] != r["max_tokens"]):
                warnings.append(f"{s} at {level} clients returned {toks} tokens per request, not {r['max_tokens']}")
            if r["usage_missing"]:
                warnings.append(f"{s} at {level} clients: {r['usage_missing']} responses without usage")
            if r["errors"]:
                warnings.append(f"{s} at {level} clients: {r['errors']} failed requests, e.g. {r['error_samples'][0]}; "
                                f"their {r.get('partial_tokens', 0)} streamed tokens are in out tok/s, not in the latencies")
        if len(servers) == 2 and all((s, level) in by for s in servers):
            a, b = by[(servers[0], level)], by[(servers[1], level)]
            thr = a["tok_s"] / b["tok_s"] if b["tok_s"] else float("nan")
            ttft = (a["ttft_p50"] / b["ttft_p50"]) if a["ttft_p50"] and b["ttft_p50"] else float("nan")
            print(f"{level:>7}  ratio {servers[0]}/{servers[1]}: throughput {thr:.2f}x, TTFT p50 {ttft:.2f}x")
    print("\nload = 1-minute load average at the end of the run (the machine's cores: "
          f"{os.cpu_count()}). tok/req = usage.completion_tokens per request (min-max).")
    for w in warnings:
        print(f"WARNING: {w}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("--url", required=True, help="http://127.0.0.1:PORT (loopback only)")
    run.add_argument("--server", required=True, help="name in the table")
    run.add_argument("--level", type=int, required=True, help="concurrent clients")
    run.add_argument("--out", required=True, help="JSON-lines file to append the record to")
    run.add_argument("--requests", type=int, default=0, help="at least this many requests (default 3x level)")
    run.add_argument("--min-seconds", type=float, default=20)
    run.add_argument("--max-seconds", type=float, default=300, help="no new request after this")
    run.add_argument("--max-requests", type=int, default=10000, help="hard cap on requests")
    run.add_argument("--request-timeout", type=float, default=300)
    run.add_argument("--max-tokens", type=int, default=64)
    rep = sub.add_parser("report")
    rep.add_argument("file")
    args = ap.parse_args()
    if args.cmd == "report":
        report(args.file)
    else:
        args.requests = args.requests or 3 * args.level
        asyncio.run(run_level(args))


if __name__ == "__main__":
    main()
