#!/usr/bin/env python3
"""Tiny random checkpoints of every supported Hugging Face family, with reference logits.

For each family this builds a small model with `transformers` from a config (no downloads), randomises
every weight -- including norm weights, attention biases and DeepSeek-V3's routing bias, which start at
1 and 0 by default and would hide bugs -- saves it with `save_pretrained` (fp32 safetensors, the exact
Hugging Face layout), and records the logits of a 20-token prompt and of 8 greedy decode steps run
through transformers' KV cache. A DeepSeek-V3 copy quantised the way DeepSeek's release is (FP8 E4M3,
128 x 128 blocks, `weight_scale_inv`) is written beside it, with logits of its dequantised weights.

Output: Tests/Fixtures/models/<family>/{config.json, model.safetensors, reference.safetensors, reference.json}
Run:    .venv-reference/bin/python scripts/reference/make_model_fixtures.py
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
from transformers import (AutoModelForCausalLM, DeepseekV2Config, DeepseekV3Config, LlamaConfig, MixtralConfig,
                          OlmoeConfig, Qwen2Config, Qwen2MoeConfig, Qwen3Config, Qwen3MoeConfig)

VOCAB = 256
PROMPT_LEN = 20
DECODE_STEPS = 8
COMMON = dict(vocab_size=VOCAB, hidden_size=64, num_attention_heads=4, max_position_embeddings=512,
              bos_token_id=0, eos_token_id=1, pad_token_id=None, tie_word_embeddings=False)


def families():
    """name -> (config, extra config.json keys, legacy rope_scaling to write instead of rope_parameters)."""
    v3_yarn = {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 128, "beta_fast": 32, "beta_slow": 1,
               "mscale": 1.0, "mscale_all_dim": 0.8}
    return {
        "deepseek_v3": (DeepseekV3Config(
            **COMMON, num_hidden_layers=3, intermediate_size=128, moe_intermediate_size=16, num_key_value_heads=4,
            n_routed_experts=16, n_shared_experts=1, num_experts_per_tok=4, n_group=4, topk_group=2, first_k_dense_replace=1,
            q_lora_rank=32, kv_lora_rank=16, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16, norm_topk_prob=True,
            routed_scaling_factor=2.5, num_nextn_predict_layers=1, rms_norm_eps=1e-6,
            rope_parameters=dict(v3_yarn, rope_type="yarn", rope_theta=10000.0)),
            {"scoring_func": "sigmoid", "topk_method": "noaux_tc", "moe_layer_freq": 1}, (v3_yarn, 10000.0)),
        "deepseek_v2": (DeepseekV2Config(
            **COMMON, num_hidden_layers=2, intermediate_size=128, moe_intermediate_size=16, num_key_value_heads=4,
            n_routed_experts=8, n_shared_experts=2, num_experts_per_tok=2, n_group=4, topk_group=2, first_k_dense_replace=1,
            topk_method="group_limited_greedy", q_lora_rank=None, kv_lora_rank=16, qk_nope_head_dim=16, qk_rope_head_dim=8,
            v_head_dim=16, norm_topk_prob=False, routed_scaling_factor=2.0, rms_norm_eps=1e-6),
            {"scoring_func": "softmax"}, None),
        "qwen2_moe": (Qwen2MoeConfig(
            **COMMON, num_hidden_layers=3, intermediate_size=96, moe_intermediate_size=16, shared_expert_intermediate_size=48,
            num_key_value_heads=2, num_experts=8, num_experts_per_tok=4, norm_topk_prob=False, mlp_only_layers=[1]), {}, None),
        "qwen3_moe": (Qwen3MoeConfig(
            **COMMON, num_hidden_layers=2, intermediate_size=96, moe_intermediate_size=16, num_key_value_heads=2, head_dim=32,
            num_experts=8, num_experts_per_tok=2, norm_topk_prob=True), {}, None),
        "mixtral": (MixtralConfig(
            **COMMON, num_hidden_layers=2, intermediate_size=32, num_key_value_heads=2, num_local_experts=8,
            num_experts_per_tok=2), {}, None),
        "olmoe": (OlmoeConfig(
            **COMMON, num_hidden_layers=2, intermediate_size=32, num_key_value_heads=4, num_experts=8, num_experts_per_tok=2,
            norm_topk_prob=False), {}, None),
        "llama": (LlamaConfig(
            **COMMON, num_hidden_layers=2, intermediate_size=128, num_key_value_heads=2,
            rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position_embeddings": 64}), {}, None),
        "qwen2": (Qwen2Config(**dict(COMMON, tie_word_embeddings=True), num_hidden_layers=2, intermediate_size=128,
                              num_key_value_heads=2), {}, None),
        "qwen3": (Qwen3Config(**dict(COMMON, tie_word_embeddings=True), num_hidden_layers=2, intermediate_size=128,
                              num_key_value_heads=2, head_dim=32), {}, None),
    }


def randomise(model, generator):
    """Every parameter and buffer that checkpoints carry gets a random, non-default value."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and name.endswith(".bias"):
                p.copy_(torch.randn(p.shape, generator=generator) * 0.2)
            elif p.dim() == 1:                                   # RMSNorm weights
                p.copy_(0.5 + torch.rand(p.shape, generator=generator))
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=generator))
            else:                                                # linear and expert weights: fan-in scaled
                p.copy_(torch.randn(p.shape, generator=generator) / math.sqrt(p.shape[-1]))
        for name, b in model.named_buffers():
            if name.endswith("e_score_correction_bias"):
                b.copy_(torch.randn(b.shape, generator=generator) * 0.1)


@torch.no_grad()
def reference_logits(model, prompt, steps=None):
    """Logits at every prompt position, then at each of `steps` (default DECODE_STEPS) greedy steps through the cache."""
    steps = DECODE_STEPS if steps is None else steps
    out = model(input_ids=torch.tensor([prompt]), use_cache=True)
    prompt_logits = out.logits[0]
    cache = out.past_key_values if hasattr(out, "past_key_values") else out.cache
    token = int(prompt_logits[-1].argmax())
    decode_ids, decode_logits = [], []
    for _ in range(steps):
        decode_ids.append(token)
        out = model(input_ids=torch.tensor([[token]]), cache=cache, use_cache=True)
        cache = out.past_key_values if hasattr(out, "past_key_values") else out.cache
        decode_logits.append(out.logits[0, -1])
        token = int(out.logits[0, -1].argmax())
    # Cross-check the cache: one uncached pass over prompt + decoded tokens gives the same logits.
    full = model(input_ids=torch.tensor([prompt + decode_ids]), use_cache=False).logits[0, len(prompt) - 1:]
    assert torch.allclose(full[1:], torch.stack(decode_logits), atol=1e-4), "cached decode differs from a full pass"
    return prompt_logits, decode_ids, torch.stack(decode_logits), token


def mtp_tensors(config, generator):
    """DeepSeek-V3's multi-token-prediction layer `model.layers.{N}`: a full decoder layer plus enorm,
    hnorm, eh_proj and the shared head. transformers does not build it; the checkpoint carries it."""
    import copy
    bigger = copy.deepcopy(config)
    bigger.num_hidden_layers = config.num_hidden_layers + 1
    torch.manual_seed(1)
    full = AutoModelForCausalLM.from_config(bigger, attn_implementation="eager")
    randomise(full, generator)
    n, e, v = config.num_hidden_layers, config.hidden_size, config.vocab_size
    prefix = f"model.layers.{n}."
    sd = {k: t for k, t in full.state_dict().items() if k.startswith(prefix)}
    # Saved in the checkpoint layout: experts as separate per-expert tensors, like save_pretrained writes.
    layer = {}
    for k, t in sd.items():
        if k.endswith("experts.gate_up_proj"):
            f = t.shape[1] // 2
            for i in range(t.shape[0]):
                layer[k.replace("gate_up_proj", f"{i}.gate_proj.weight")] = t[i, :f].clone()
                layer[k.replace("gate_up_proj", f"{i}.up_proj.weight")] = t[i, f:].clone()
        elif k.endswith("experts.down_proj"):
            for i in range(t.shape[0]):
                layer[k.replace("down_proj", f"{i}.down_proj.weight")] = t[i].clone()
        else:
            layer[k] = t.clone()
    layer[prefix + "enorm.weight"] = 0.5 + torch.rand(e, generator=generator)
    layer[prefix + "hnorm.weight"] = 0.5 + torch.rand(e, generator=generator)
    layer[prefix + "eh_proj.weight"] = torch.randn(e, 2 * e, generator=generator) / math.sqrt(2 * e)
    layer[prefix + "shared_head.norm.weight"] = 0.5 + torch.rand(e, generator=generator)
    layer[prefix + "shared_head.head.weight"] = torch.randn(v, e, generator=generator) / math.sqrt(e)
    layer[prefix + "embed_tokens.weight"] = torch.randn(v, e, generator=generator)
    return layer


def write_config(directory, extra, legacy_rope):
    path = os.path.join(directory, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    cfg.update(extra)
    if legacy_rope is not None:                       # as DeepSeek's own config.json spells it
        scaling, theta = legacy_rope
        cfg.pop("rope_parameters", None)
        cfg["rope_scaling"], cfg["rope_theta"] = scaling, theta
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    return cfg


def quantise_fp8(weights, block=128):
    """DeepSeek-V3 release format: each 2-D linear weight as float8_e4m3fn in block x block tiles (edge tiles
    clipped) with `<name>_scale_inv` (fp32, [ceil(N/b), ceil(K/b)]) such that w ~= fp8 * scale_inv."""
    out, dequantised = {}, {}
    for name, w in weights.items():
        quantise = w.dim() == 2 and name.endswith("proj.weight") or name.endswith("proj_with_mqa.weight")
        if not quantise or ".mlp.gate." in name:
            out[name] = w
            dequantised[name] = w
            continue
        n, k = w.shape
        gn, gk = -(-n // block), -(-k // block)
        scale = torch.empty(gn, gk, dtype=torch.float32)
        q = torch.empty(n, k, dtype=torch.float8_e4m3fn)
        deq = torch.empty(n, k, dtype=torch.float32)
        for i in range(gn):
            for j in range(gk):
                tile = w[i * block:(i + 1) * block, j * block:(j + 1) * block]
                s = tile.abs().max().clamp(min=1e-12) / 448.0
                qt = (tile / s).to(torch.float8_e4m3fn)
                scale[i, j] = s
                q[i * block:(i + 1) * block, j * block:(j + 1) * block] = qt
                deq[i * block:(i + 1) * block, j * block:(j + 1) * block] = qt.to(torch.float32) * s
        out[name], out[name + "_scale_inv"] = q, scale
        dequantised[name] = deq
    return out, dequantised


def save_reference(directory, family, model, prompt, versions, note=None):
    prompt_logits, decode_ids, decode_logits, next_id = reference_logits(model, prompt)
    save_file({"prompt_logits": prompt_logits.contiguous(), "decode_logits": decode_logits.contiguous()},
              os.path.join(directory, "reference.safetensors"), metadata={"format": "pt"})
    info = {"family": family, "architecture": model.config.architectures[0], "prompt_ids": prompt,
            "decode_ids": decode_ids, "next_id": next_id, "versions": versions}
    if note:
        info["note"] = note
    with open(os.path.join(directory, "reference.json"), "w") as f:
        json.dump(info, f, indent=2)


def build(family, out_dir, versions):
    config, extra, legacy_rope = families()[family]
    config.architectures = [type(config).__name__.replace("Config", "ForCausalLM")]
    generator = torch.Generator().manual_seed(sum(map(ord, family)))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
    randomise(model, generator)
    directory = os.path.join(out_dir, family)
    shutil.rmtree(directory, ignore_errors=True)
    model.save_pretrained(directory)
    os.remove(os.path.join(directory, "generation_config.json"))
    write_config(directory, extra, legacy_rope)
    prompt = torch.randint(2, VOCAB, (PROMPT_LEN,), generator=generator).tolist()
    if family == "deepseek_v3":
        weights = load_file(os.path.join(directory, "model.safetensors"))
        weights.update(mtp_tensors(config, generator))
        save_file(weights, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})
    # The saved folder must be what transformers itself loads: reload it and compare.
    reloaded = AutoModelForCausalLM.from_pretrained(directory, attn_implementation="eager").eval()
    with torch.no_grad():
        a = model(input_ids=torch.tensor([prompt])).logits
        b = reloaded(input_ids=torch.tensor([prompt])).logits
    assert torch.equal(a, b), f"{family}: reloaded checkpoint differs by {(a - b).abs().max()}"
    save_reference(directory, family, reloaded, prompt, versions)
    if family == "deepseek_v3":
        build_fp8(directory, out_dir, reloaded, prompt, versions)


def build_fp8(source, out_dir, model, prompt, versions):
    directory = os.path.join(out_dir, "deepseek_v3_fp8")
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    weights = load_file(os.path.join(source, "model.safetensors"))
    quantised, dequantised = quantise_fp8(weights)
    save_file(quantised, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(source, "config.json")) as f:
        cfg = json.load(f)
    cfg["quantization_config"] = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                  "weight_block_size": [128, 128]}
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    n = model.config.num_hidden_layers
    runnable = {k: v for k, v in dequantised.items() if not k.startswith(f"model.layers.{n}.")}
    missing, unexpected = model.load_state_dict(_to_module_layout(model, runnable), strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    save_reference(directory, "deepseek_v3_fp8", model, prompt, versions,
                   note="logits of the dequantised weights (fp8 * weight_scale_inv) in fp32")


def _to_module_layout(model, weights):
    """Per-expert checkpoint tensors -> transformers' fused expert parameters."""
    sd = dict(weights)
    for name, p in model.state_dict().items():
        if name.endswith("experts.gate_up_proj"):
            base, e = name[: -len("gate_up_proj")], p.shape[0]
            sd[name] = torch.stack([torch.cat([sd.pop(f"{base}{i}.gate_proj.weight"), sd.pop(f"{base}{i}.up_proj.weight")])
                                    for i in range(e)])
        elif name.endswith("experts.down_proj"):
            base, e = name[: -len("down_proj")], p.shape[0]
            sd[name] = torch.stack([sd.pop(f"{base}{i}.down_proj.weight") for i in range(e)])
    return sd


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
        build(family, args.out, versions)
        print(f"{family}: written", file=sys.stderr)


if __name__ == "__main__":
    main()
