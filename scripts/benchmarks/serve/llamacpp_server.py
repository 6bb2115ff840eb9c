#!/usr/bin/env python3
"""Runs llama.cpp's OpenAI-compatible server (prebuilt inside the PyPI package xllamacpp) until killed.

    llamacpp_server.py --model PATH --port P --parallel N --threads T --ctx-per-slot C [--embeddings]

Listens on 127.0.0.1 only. xllamacpp.Server starts llama.cpp's HTTP server on its own threads and
returns; this process then waits for SIGTERM/SIGINT and exits at once (os._exit): the C++ side has
nothing to flush, and a hard exit cannot hang on thread joins, so scripts/bench leaves nothing behind.
"""
import argparse
import os
import signal
import sys

import xllamacpp


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--parallel", type=int, required=True, help="slots = concurrent sequences")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--ctx-per-slot", type=int, required=True)
    ap.add_argument("--poll", type=int, default=None,
                    help="ggml threadpool busy-wait level 0-100 (llama.cpp's default: 50)")
    ap.add_argument("--embeddings", action="store_true", help="serve /v1/embeddings, pooled by the last token")
    args = ap.parse_args()

    p = xllamacpp.CommonParams()
    p.model.path = args.model
    p.hostnames = ["127.0.0.1"]
    p.port = args.port
    p.n_parallel = args.parallel
    # Each slot gets n_ctx / n_parallel of the KV cache (kv_unified is off by default).
    p.n_ctx = args.parallel * args.ctx_per_slot
    p.cpuparams.n_threads = args.threads
    p.cpuparams_batch.n_threads = args.threads
    if args.poll is not None:
        p.cpuparams.poll = args.poll
        p.cpuparams_batch.poll = args.poll
    # Keep the context we asked for: do not let llama.cpp shrink it to "fit" memory.
    p.fit_params = False
    p.ui = False
    if args.embeddings:
        p.embedding = True
        p.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_LAST
    # Block SIGTERM/SIGINT before llama.cpp starts its threads (they inherit the mask), then wait for
    # them here: otherwise the signal can land on a server thread while the main thread sleeps on.
    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    server = xllamacpp.Server(p)
    print(f"llama.cpp server listening on {server.listening_address}", flush=True)
    signal.sigwait(stop)
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
