#!/usr/bin/env python3
"""A DeepSeek-V3-shaped checkpoint with a multi-token-prediction layer, for `scripts/bench spec --mtp`.

450 M parameters (8 layers of hidden 1024, MLA, 32 experts top-6 and a shared one, the MTP layer as
`model.layers.8`), random weights in the exact Hugging Face layout (saved by transformers; the MTP layer written
the way make_model_fixtures.py writes the fixture's), with the 256-token tokenizer of Tests/Fixtures/models/serving.
Its MTP layer is random: it shows what the layer costs when its guesses fail, not what it gains.

    make_mtp_model.py --out DIR        (made once: skipped when DIR holds the same shape)
"""
import argparse
import json
import os
import shutil
import sys

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, DeepseekV3Config

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
sys.path.insert(0, os.path.join(ROOT, "scripts", "reference"))
from make_model_fixtures import mtp_tensors, randomise  # noqa: E402

SHAPE = dict(vocab_size=256, hidden_size=1024, num_attention_heads=16, num_key_value_heads=16, max_position_embeddings=4096,
             num_hidden_layers=8, intermediate_size=2048, moe_intermediate_size=512, n_routed_experts=32, n_shared_experts=1,
             num_experts_per_tok=6, n_group=4, topk_group=2, first_k_dense_replace=1, q_lora_rank=384, kv_lora_rank=256,
             qk_nope_head_dim=64, qk_rope_head_dim=32, v_head_dim=64, norm_topk_prob=True, routed_scaling_factor=2.5,
             num_nextn_predict_layers=1, rms_norm_eps=1e-6)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    stamp = os.path.join(args.out, "mtp-bench.json")
    if os.path.exists(stamp) and json.load(open(stamp)) == SHAPE:
        return
    config = DeepseekV3Config(**SHAPE, bos_token_id=0, eos_token_id=1, pad_token_id=None, tie_word_embeddings=False)
    config.architectures = ["DeepseekV3ForCausalLM"]
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).eval()
    randomise(model, generator)
    shutil.rmtree(args.out, ignore_errors=True)
    model.save_pretrained(args.out)
    weights = load_file(os.path.join(args.out, "model.safetensors"))
    weights.update(mtp_tensors(config, generator))
    save_file(weights, os.path.join(args.out, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(args.out, "config.json")) as f:
        cfg = json.load(f)
    cfg.update({"scoring_func": "sigmoid", "topk_method": "noaux_tc"})
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(ROOT, "Tests", "Fixtures", "models", "serving", name), os.path.join(args.out, name))
    with open(stamp, "w") as f:
        json.dump(SHAPE, f)
    print(f"{sum(t.numel() for t in weights.values()) / 1e6:.0f} M parameters in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
