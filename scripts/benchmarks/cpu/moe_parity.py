#!/usr/bin/env python3
"""Do moeserve (Q8_0 quantised at load from bf16 safetensors) and llama.cpp (Q8_0 GGUF from llama.cpp's own
converter) compute the same function? For a few token-id prompts, asks both servers for the next token's top-k
log-probabilities (moeserve: POST /v1/completions with `logprobs`; llama.cpp: POST /completion with `n_probs`)
and compares them, by token text (invalid UTF-8 shows as U+FFFD in both, so byte tokens can collide). Both quantise with the same Q8_0 rule (d = max|x| / 127, q = round(x / d), d stored as
fp16), so the weights are the same; the differences left are the two engines' arithmetic (activation
rounding, accumulation order).

    moe_parity.py --moeserve-port P --llama-port Q --vocab-size V [--top 5]

Prints one JSON line: {"parity": ..., "prompts", "top1_agree", "max_abs_logprob_difference"} (over the tokens
in both top-k lists).
"""
import argparse
import json
import urllib.request


def post(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.load(r)


def moeserve_top(port, prompt, k, model_id):
    r = post(port, "/v1/completions", {"model": model_id, "prompt": prompt, "max_tokens": 1, "temperature": 0, "logprobs": k})
    top = r["choices"][0]["logprobs"]["top_logprobs"][0]
    return top  # {token text: logprob}


def llama_top(port, prompt, k):
    """None when the server leaves the probabilities out (it does when the token is an incomplete UTF-8 sequence)."""
    r = post(port, "/completion", {"prompt": prompt, "n_predict": 1, "temperature": 0, "n_probs": k, "cache_prompt": False, "ignore_eos": True})
    if not r.get("completion_probabilities"):
        return None
    return {e["token"]: e["logprob"] for e in r["completion_probabilities"][0]["top_logprobs"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--moeserve-port", type=int, required=True)
    ap.add_argument("--llama-port", type=int, required=True)
    ap.add_argument("--vocab-size", type=int, required=True)
    ap.add_argument("--model-id", default="synthetic-moe")
    ap.add_argument("--top", type=int, default=5)
    args = ap.parse_args()
    agree, worst, prompts = 0, 0.0, 0
    for s in range(8):
        prompt = [1] + [(500 + 37 * s + j * 11) % args.vocab_size for j in range(15)]
        ours, theirs = moeserve_top(args.moeserve_port, prompt, args.top, args.model_id), llama_top(args.llama_port, prompt, args.top)
        if theirs is None:
            continue
        prompts += 1
        agree += max(ours, key=ours.get) == max(theirs, key=theirs.get)
        for token in set(ours) & set(theirs):
            worst = max(worst, abs(ours[token] - theirs[token]))
    print(json.dumps({"parity": "moeserve vs llama.cpp, next-token top logprobs", "prompts": prompts,
                      "top1_agree": agree, "max_abs_logprob_difference": round(worst, 4)}))


if __name__ == "__main__":
    main()
