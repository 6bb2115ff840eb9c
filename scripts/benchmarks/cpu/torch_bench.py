#!/usr/bin/env python3
"""PyTorch eager's side of `scripts/bench cpu` (default model) and `scripts/bench cpu --model synthetic-moe`:
the same three figures as `moeserve bench`, torch threads = --threads, KV cache = transformers' DynamicCache.
Token ids as in Bench.swift. Synthetic MoE: transformers' DeepseekV3ForCausalLM on the safetensors folder in
bf16 (as stored). Default model: with --gguf-file, transformers loads the GGUF from FOLDER and dequantises it
to fp32 (its safetensors form cannot be downloaded here; these are the same weights moeserve and llama.cpp run).

    torch_bench.py --model FOLDER [--gguf-file NAME.gguf] --threads 2 --decode-steps 64 --prompt-tokens 512 --sequences 16 --rounds 1

Experts: transformers 5 defaults to `grouped_mm`; on this CPU its `eager` loop over the routed experts was
faster at batch 1 and 16 (4.3 and 3.1 tok/s against 0.5 and 1.5, 4-step probe under load), so it is the
default here (--experts-implementation to change).
Prints one JSON line: {"engine": "pytorch-bf16" or "pytorch-fp32", "decode_tps", "prefill_tps",
"batch_decode_tps", "weight_bytes", "experts_implementation" (MoE only)} (best round); weight_bytes counts
every parameter once (tied embeddings once), all of which a decode step reads.
"""
import argparse
import json
import time

import torch
from transformers import AutoModelForCausalLM, DynamicCache


def decode(model, vocab, steps, batch):
    """Generated tokens per second over all sequences, each decoding after an 8-token prompt."""
    prompt = torch.tensor([[(500 + 37 * s + j) % vocab for j in range(8)] for s in range(batch)])
    cache = DynamicCache(config=model.config)
    model(input_ids=prompt, cache=cache, use_cache=True)
    start = time.perf_counter()
    for step in range(steps):
        ids = torch.tensor([[(600 + step + s) % vocab] for s in range(batch)])
        model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
    return batch * steps / (time.perf_counter() - start)


def prefill(model, vocab, tokens):
    prompt = torch.tensor([[(1000 + i % 5000) % vocab for i in range(tokens)]])
    start = time.perf_counter()
    model(input_ids=prompt, cache=DynamicCache(config=model.config), use_cache=True, logits_to_keep=1)
    return tokens / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--decode-steps", type=int, default=64)
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--sequences", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--experts-implementation", default="eager", help="eager, grouped_mm or batched_mm")
    ap.add_argument("--gguf-file", help="a GGUF file in --model to load (dequantised to fp32) instead of safetensors")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.gguf_file:
        model = AutoModelForCausalLM.from_pretrained(args.model, gguf_file=args.gguf_file, dtype=torch.float32).eval()
    else:
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16,
                                                     experts_implementation=args.experts_implementation).eval()
    vocab = model.config.vocab_size
    best = {"decode_tps": 0.0, "prefill_tps": 0.0, "batch_decode_tps": 0.0}
    with torch.inference_mode():
        decode(model, vocab, 2, 1)  # warm-up
        for _ in range(args.rounds):
            best["decode_tps"] = max(best["decode_tps"], decode(model, vocab, args.decode_steps, 1))
            best["prefill_tps"] = max(best["prefill_tps"], prefill(model, vocab, args.prompt_tokens))
            best["batch_decode_tps"] = max(best["batch_decode_tps"], decode(model, vocab, args.decode_steps, args.sequences))
    dtype = next(model.parameters()).dtype
    extra = {} if args.gguf_file else {"experts_implementation": model.config._experts_implementation}
    print(json.dumps({"engine": "pytorch-bf16" if dtype == torch.bfloat16 else "pytorch-fp32",
                      **{k: round(v, 1) for k, v in best.items()},
                      "weight_bytes": sum(p.numel() * p.element_size() for p in model.parameters()), **extra}))


if __name__ == "__main__":
    main()
