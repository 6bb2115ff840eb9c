#!/usr/bin/env python3
"""Writes the synthetic benchmark MoE of issue 8: a DeepSeek-V3-shaped checkpoint (`DeepseekV3ForCausalLM`:
MLA attention, DeepSeekMoE with one shared and 64 routed experts, sigmoid routing over 8 groups with the
`noaux_tc` bias) with random weights, saved by transformers' `save_pretrained` as bf16 safetensors.

    .venv-reference/bin/python scripts/benchmarks/cpu/make_synthetic_moe.py --out DIR [--seed 0]

Large enough not to fit in any cache: ~1.06 G parameters, ~1.13 GB resident as Q8_0 (printed). The weights
are a function of the seed (and the torch version); the folder is skipped when it already holds a model
made with the same shape and seed. The tokenizer is the small byte-level BPE with DeepSeek-V3's
pre-tokenizer regexes committed in Tests/Fixtures/tokenizer-json/bytelevel-deepseek-v3/ (trained for this
project, see that folder's README); vocab_size matches it (1,806 ids). Run by scripts/benchmarks/cpu/moe.sh.
"""
import argparse
import json
import os
import shutil
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
TOKENIZER = os.path.join(ROOT, "Tests", "Fixtures", "tokenizer-json", "bytelevel-deepseek-v3", "tokenizer.json")

SHAPE = {
    "hidden_size": 1024,
    "num_hidden_layers": 11,
    "first_k_dense_replace": 1,
    "intermediate_size": 2048,
    "moe_intermediate_size": 512,
    "n_routed_experts": 64,
    "num_experts_per_tok": 6,
    "n_shared_experts": 1,
    "n_group": 8,
    "topk_group": 4,
    "topk_method": "noaux_tc",
    "scoring_func": "sigmoid",
    "norm_topk_prob": True,
    "routed_scaling_factor": 2.5,
    "num_attention_heads": 16,
    "num_key_value_heads": 16,
    "q_lora_rank": 384,
    "kv_lora_rank": 256,
    "qk_nope_head_dim": 64,
    "qk_rope_head_dim": 32,
    "v_head_dim": 64,
    "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False,
}


def tokenizer_facts():
    t = json.load(open(TOKENIZER))
    ids = list(t["model"]["vocab"].values()) + [a["id"] for a in t["added_tokens"]]
    by_content = {a["content"]: a["id"] for a in t["added_tokens"]}
    return max(ids) + 1, by_content["<|begin_of_text|>"], by_content["<|endoftext|>"]


def parameter_counts(c, vocab):
    """Matrix parameters by role, from the config (norms are negligible)."""
    h, heads = c["hidden_size"], c["num_attention_heads"]
    qk = c["qk_nope_head_dim"] + c["qk_rope_head_dim"]
    attention = (h * c["q_lora_rank"] + c["q_lora_rank"] * heads * qk + h * (c["kv_lora_rank"] + c["qk_rope_head_dim"])
                 + c["kv_lora_rank"] * heads * (c["qk_nope_head_dim"] + c["v_head_dim"]) + heads * c["v_head_dim"] * h)
    expert = 3 * h * c["moe_intermediate_size"]
    moe_layers = c["num_hidden_layers"] - c["first_k_dense_replace"]
    return {
        "attention": c["num_hidden_layers"] * attention,
        "dense_ffn": c["first_k_dense_replace"] * 3 * h * c["intermediate_size"],
        "shared_experts": moe_layers * c["n_shared_experts"] * expert,
        "routed_experts": moe_layers * c["n_routed_experts"] * expert,
        "routed_active": moe_layers * c["num_experts_per_tok"] * expert,
        "router": moe_layers * c["n_routed_experts"] * h,
        "embedding": vocab * h,
        "lm_head": vocab * h,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, help="folder to write (skipped when it already holds this model)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    vocab, bos, eos = tokenizer_facts()
    stamp = {"shape": SHAPE, "seed": args.seed, "vocab_size": vocab}
    stamp_path = os.path.join(args.out, "synthetic-moe.json")
    if os.path.exists(stamp_path) and json.load(open(stamp_path)) == stamp:
        print(f"synthetic MoE: already in {args.out}", file=sys.stderr)
        return

    import torch
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

    counts = parameter_counts(SHAPE, vocab)
    total = sum(v for k, v in counts.items() if k != "routed_active")
    print(f"synthetic MoE: {total / 1e9:.3f} G matrix parameters, {total * 34 / 32 / 1e9:.2f} GB as Q8_0; "
          f"writing {args.out} (seed {args.seed})", file=sys.stderr)
    config = DeepseekV3Config(vocab_size=vocab, bos_token_id=bos, eos_token_id=eos, **SHAPE)
    torch.manual_seed(args.seed)
    torch.set_default_dtype(torch.bfloat16)
    model = DeepseekV3ForCausalLM(config).eval()
    with torch.no_grad():
        # transformers starts the routing bias at zero; a small random one makes group selection use it.
        for layer in model.model.layers[SHAPE["first_k_dense_replace"]:]:
            layer.mlp.gate.e_score_correction_bias.normal_(0, 0.01)
    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    model.save_pretrained(args.out, max_shard_size="1GB")
    shutil.copy(TOKENIZER, os.path.join(args.out, "tokenizer.json"))
    template = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}" \
               "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|begin_of_text|>", "eos_token": "<|endoftext|>",
               "add_bos_token": False, "model_max_length": SHAPE["max_position_embeddings"], "chat_template": template},
              open(os.path.join(args.out, "tokenizer_config.json"), "w"), indent=2)
    json.dump(stamp, open(stamp_path, "w"), indent=2)
    print(f"synthetic MoE: written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
