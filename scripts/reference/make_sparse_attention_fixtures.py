#!/usr/bin/env python3
"""Tiny random DeepSeek-V4 and DeepSeek-V3.2 checkpoints with reference logits.

Same conventions as make_model_fixtures.py (fp32, every weight random including norms, biases, sinks,
position biases and hyper-connection parameters; saved with `save_pretrained`; reloaded and checked), but
the prompt is longer than V4's sliding window and both compression rates and than the top-k of the
sparse-attention indexers, so every attention path is exercised, and 16 greedy decode steps run through
transformers' cache.

Because the indexers and routers select with top-k, a reimplementation that sums in a different order
could pick a different entry when two scores (almost) tie. Every `torch.topk` the models call is watched
and a seed is rejected unless each kept/dropped boundary has a margin of at least MIN_MARGIN.

Output: Tests/Fixtures/models/<family>/{config.json, model.safetensors, reference.safetensors, reference.json}
Run:    .venv-reference/bin/python scripts/reference/make_sparse_attention_fixtures.py
"""
import argparse
import json
import math
import os
import platform
import shutil
import sys

import safetensors
import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, DeepseekV32Config, DeepseekV4Config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_model_fixtures import mtp_tensors  # noqa: E402  (V3-style MTP layer model.layers.{N})
from make_model_fixtures import reference_logits as shared_reference_logits  # noqa: E402

VOCAB = 256
PROMPT_LEN = 32
DECODE_STEPS = 16
# Top-k margins demanded per family (V3.2's 16-expert sigmoid router makes many close calls; fp32
# reimplementations differ by ~1e-6, so either bound leaves a wide safety factor).
MIN_MARGIN = {"deepseek_v4": 1e-3, "deepseek_v32": 5e-4}
COMMON = dict(vocab_size=VOCAB, hidden_size=64, num_attention_heads=4, max_position_embeddings=512,
              bos_token_id=0, eos_token_id=1, pad_token_id=None, tie_word_embeddings=False)


def families():
    """name -> (config, extra config.json keys)."""
    return {
        # Layers: sliding, CSA, HCA, CSA; hash-routed MoE in the first two, top-k routed after.
        # Window 8, CSA rate 4 (8 entries over the prompt, indexer keeps 3), HCA rate 8; YaRN on the
        # compressed branches only, as the real configs have it.
        "deepseek_v4": (DeepseekV4Config(
            **COMMON, num_hidden_layers=4, num_key_value_heads=1, head_dim=32, q_lora_rank=32,
            partial_rotary_factor=0.25, moe_intermediate_size=16, n_routed_experts=8, n_shared_experts=1,
            num_experts_per_tok=2, scoring_func="sqrtsoftplus", routed_scaling_factor=1.5, rope_theta=10000.0,
            layer_types=["sliding_attention", "compressed_sparse_attention", "heavily_compressed_attention",
                         "compressed_sparse_attention"],
            mlp_layer_types=["hash_moe", "hash_moe", "moe", "moe"],
            compress_rates={"compressed_sparse_attention": 4, "heavily_compressed_attention": 8},
            compress_rope_theta=160000.0, hc_mult=4, hc_sinkhorn_iters=20, hc_eps=1e-6, swiglu_limit=2.0,
            sliding_window=8, o_groups=2, o_lora_rank=16, index_n_heads=8, index_head_dim=16, index_topk=3,
            num_nextn_predict_layers=1, rms_norm_eps=1e-6,
            rope_parameters={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 128,
                             "beta_fast": 32, "beta_slow": 1}), {}),
        # DeepSeek-V3.2: the deepseek_v3 fixture's shape plus the DSA indexer keeping 6 of up to 48 tokens.
        "deepseek_v32": (DeepseekV32Config(
            **COMMON, num_hidden_layers=3, intermediate_size=128, moe_intermediate_size=16, num_key_value_heads=4,
            n_routed_experts=16, n_shared_experts=1, num_experts_per_tok=4, n_group=4, topk_group=2,
            first_k_dense_replace=1, q_lora_rank=32, kv_lora_rank=16, qk_nope_head_dim=16, qk_rope_head_dim=8,
            v_head_dim=16, norm_topk_prob=True, routed_scaling_factor=2.5, rms_norm_eps=1e-6,
            index_n_heads=8, index_head_dim=16, index_topk=6,
            rope_parameters={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 128,
                             "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 0.8,
                             "rope_theta": 10000.0}),
            {"num_nextn_predict_layers": 1}),
    }


def randomise(model, generator):
    """Every parameter and buffer a checkpoint carries gets a random, non-default value."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias") and p.dim() == 1:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.2)
            elif name.endswith("position_bias"):
                p.copy_(torch.randn(p.shape, generator=generator))
            elif name.endswith("sinks") or name.endswith(".base") or name.endswith("hc_base"):
                p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
            elif p.dim() == 1:                                   # norm weights, hyper-connection scales
                p.copy_(0.5 + torch.rand(p.shape, generator=generator))
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=generator))
            else:                                                # linear, expert and hc weights: fan-in scaled
                p.copy_(torch.randn(p.shape, generator=generator) / math.sqrt(p.shape[-1]))
        for name, b in model.named_buffers():
            if name.endswith("e_score_correction_bias"):
                b.copy_(torch.randn(b.shape, generator=generator) * 0.1)
            elif name.endswith("tid2eid"):                       # distinct experts per token
                experts = model.config.n_routed_experts
                b.copy_(torch.stack([torch.randperm(experts, generator=generator)[:b.shape[1]]
                                     for _ in range(b.shape[0])]))


class TopKWatch:
    """Wraps torch.topk / Tensor.topk and records the smallest gap between the last kept and the
    first dropped finite value of every call."""

    def __init__(self):
        self.smallest = math.inf
        self.original_fn, self.original_method = torch.topk, torch.Tensor.topk

    def _check(self, values, k, dim=-1, **_):
        n = values.shape[dim]
        if k >= n:
            return
        ordered = values.detach().float().sort(dim=dim, descending=True).values
        kth, next_ = ordered.narrow(dim, k - 1, 1), ordered.narrow(dim, k, 1)
        finite = torch.isfinite(next_) & (next_ > -1e30)
        if finite.any():
            self.smallest = min(self.smallest, float((kth - next_)[finite].min()))

    def __enter__(self):
        watch = self

        def fn(values, k, dim=-1, *args, **kwargs):
            watch._check(values, k, dim)
            return watch.original_fn(values, k, dim, *args, **kwargs)

        def method(values, k, dim=-1, *args, **kwargs):
            watch._check(values, k, dim)
            return watch.original_method(values, k, dim, *args, **kwargs)
        torch.topk, torch.Tensor.topk = fn, method
        return self

    def __exit__(self, *exc):
        torch.topk, torch.Tensor.topk = self.original_fn, self.original_method


def reference_logits(model, prompt):
    """Logits at every prompt position, then at each of DECODE_STEPS greedy steps through the cache."""
    return shared_reference_logits(model, prompt, steps=DECODE_STEPS)


def v4_mtp_tensors(weights, config, generator):
    """DeepSeek-V4's multi-token-prediction block as DeepSeek's checkpoint names it (`mtp.0.*`, which
    transformers skips): a decoder block (here a copy of the last layer's tensors) plus the embedding and
    hidden projections and norms and its own hyper-connection head."""
    e, n = config.hidden_size, config.hc_mult
    last = f"model.layers.{config.num_hidden_layers - 1}."
    out = {"mtp.0." + k[len(last):]: t.clone() for k, t in weights.items() if k.startswith(last)}
    for name in ("enorm", "hnorm", "norm"):
        out[f"mtp.0.{name}.weight"] = 0.5 + torch.rand(e, generator=generator)
    for name in ("e_proj", "h_proj"):
        out[f"mtp.0.{name}.weight"] = torch.randn(e, e, generator=generator) / math.sqrt(e)
    out["mtp.0.hc_head_fn"] = torch.randn(n, n * e, generator=generator) / math.sqrt(n * e)
    out["mtp.0.hc_head_base"] = torch.randn(n, generator=generator) * 0.5
    out["mtp.0.hc_head_scale"] = 0.5 + torch.rand(1, generator=generator)
    return out


def add_mtp(family, directory, config, generator):
    path = os.path.join(directory, "model.safetensors")
    weights = load_file(path)
    if family == "deepseek_v4":
        weights.update(v4_mtp_tensors(weights, config, generator))
    else:   # the per-layer lists must cover the extra layer mtp_tensors builds (config.json is already written)
        saved = list(config.mlp_layer_types), list(config.layer_types)
        config.mlp_layer_types, config.layer_types = saved[0] + ["sparse"], saved[1] + ["indexed_attention"]
        weights.update(mtp_tensors(config, generator))
        config.mlp_layer_types, config.layer_types = saved
    save_file(weights, path, metadata={"format": "pt"})


def build(family, out_dir, versions, seed):
    config, extra = families()[family]
    config.architectures = [type(config).__name__.replace("Config", "ForCausalLM")]
    generator = torch.Generator().manual_seed(sum(map(ord, family)) + seed)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
    randomise(model, generator)
    directory = os.path.join(out_dir, family)
    shutil.rmtree(directory, ignore_errors=True)
    model.save_pretrained(directory)
    os.remove(os.path.join(directory, "generation_config.json"))
    path = os.path.join(directory, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    cfg.update(extra)
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    prompt = torch.randint(2, VOCAB, (PROMPT_LEN,), generator=generator).tolist()
    add_mtp(family, directory, config, generator)
    reloaded = AutoModelForCausalLM.from_pretrained(directory, attn_implementation="eager").eval()
    with torch.no_grad():
        a = model(input_ids=torch.tensor([prompt])).logits
        b = reloaded(input_ids=torch.tensor([prompt])).logits
    assert torch.equal(a, b), f"{family}: reloaded checkpoint differs by {(a - b).abs().max()}"
    with TopKWatch() as watch:
        try:
            prompt_logits, decode_ids, decode_logits, next_id = reference_logits(reloaded, prompt)
        except AssertionError:      # a near-tie resolved differently by the cached and the full pass
            return 0.0
    if watch.smallest < MIN_MARGIN[family]:
        return watch.smallest
    save_file({"prompt_logits": prompt_logits.contiguous(), "decode_logits": decode_logits.contiguous()},
              os.path.join(directory, "reference.safetensors"), metadata={"format": "pt"})
    info = {"family": family, "architecture": config.architectures[0], "prompt_ids": prompt,
            "decode_ids": decode_ids, "next_id": next_id, "seed": seed,
            "smallest_topk_margin": watch.smallest, "versions": versions}
    with open(os.path.join(directory, "reference.json"), "w") as f:
        json.dump(info, f, indent=2)
    return watch.smallest


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser.add_argument("--out", default=os.path.join(root, "Tests", "Fixtures", "models"))
    parser.add_argument("families", nargs="*", default=list(families()))
    args = parser.parse_args()
    torch.set_num_threads(1)
    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "transformers": transformers.__version__, "safetensors": safetensors.__version__}
    for family in args.families:
        for seed in range(50):              # the first seed whose top-k choices are all clear-cut
            margin = build(family, args.out, versions, seed)
            if margin >= MIN_MARGIN[family]:
                break
            print(f"{family}: seed {seed} has a top-k margin of {margin:.2e}, trying the next", file=sys.stderr)
        else:
            sys.exit(f"{family}: no seed gave clear-cut top-k choices")
        print(f"{family}: written (seed {seed}, smallest top-k margin {margin:.2e})", file=sys.stderr)


if __name__ == "__main__":
    main()
