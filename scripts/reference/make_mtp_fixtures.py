#!/usr/bin/env python3
"""Reference logits of DeepSeek-V3's multi-token-prediction (MTP) layer, for the tiny deepseek_v3 fixture.

The checkpoint (Tests/Fixtures/models/deepseek_v3, made by make_model_fixtures.py) carries the MTP layer
`model.layers.{N}` as DeepSeek's release does: enorm, hnorm, eh_proj, a full decoder layer, shared_head.{norm,head}
and its own embed_tokens. transformers does not run it, so this script does, as vLLM's deepseek_mtp.py does:

    for position p, with h_p the main model's final hidden state (after its last norm) and t_{p+1} the next token,
    x_p = eh_proj([enorm(embed(t_{p+1})) ; hnorm(h_p)])       (the embedding is zeroed at position 0)
    y   = decoder_layer(x) over positions 0..p (causal attention, rotary position p)
    logits_p = shared_head.head(shared_head.norm(y_p))        (a guess at token t_{p+2})

over the fixture's prompt followed by its greedy decode (28 tokens, so 27 positions have a next token).

Output: Tests/Fixtures/models/deepseek_v3/mtp_reference.safetensors
    tokens  [28] float32   the sequence (ids, exact in fp32)
    logits  [27, vocab]    the MTP layer's logits at positions 0..26
Run:    .venv-reference/bin/python scripts/reference/make_mtp_fixtures.py
"""
import argparse
import json
import os

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM
from transformers.masking_utils import create_causal_mask
from transformers.models.deepseek_v3.modeling_deepseek_v3 import DeepseekV3DecoderLayer, DeepseekV3RMSNorm


def mtp_layer(config, weights, n):
    """The decoder block of layer n, its experts fused the way transformers keeps them."""
    layer = DeepseekV3DecoderLayer(config, layer_idx=n).eval()
    prefix = f"model.layers.{n}."
    own = {k[len(prefix):]: t for k, t in weights.items() if k.startswith(prefix)}
    state = {}
    experts = config.n_routed_experts
    for k, t in own.items():
        if ".experts." in k:
            continue
        if k.split(".")[0] in ("enorm", "hnorm", "eh_proj", "shared_head", "embed_tokens"):
            continue
        state[k] = t
    gate_up = [torch.cat([own[f"mlp.experts.{i}.gate_proj.weight"], own[f"mlp.experts.{i}.up_proj.weight"]]) for i in range(experts)]
    state["mlp.experts.gate_up_proj"] = torch.stack(gate_up)
    state["mlp.experts.down_proj"] = torch.stack([own[f"mlp.experts.{i}.down_proj.weight"] for i in range(experts)])
    layer.load_state_dict(state, strict=True)
    return layer, own


def norm(weight, eps):
    n = DeepseekV3RMSNorm(weight.shape[0], eps=eps)
    n.weight.data.copy_(weight)
    return n


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.path.join(root, "Tests", "Fixtures", "models", "deepseek_v3"))
    args = parser.parse_args()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(args.model, attn_implementation="eager").eval()
    config = model.config
    with open(os.path.join(args.model, "reference.json")) as f:
        info = json.load(f)
    tokens = info["prompt_ids"] + info["decode_ids"]
    weights = load_file(os.path.join(args.model, "model.safetensors"))
    n, eps = config.num_hidden_layers, config.rms_norm_eps
    layer, own = mtp_layer(config, weights, n)
    with torch.no_grad():
        ids = torch.tensor([tokens])
        hidden = model.model(input_ids=ids).last_hidden_state[0, :-1]           # h_0 .. h_{T-2}, after the final norm
        positions = torch.arange(len(tokens) - 1)
        embedded = torch.nn.functional.embedding(ids[0, 1:], own["embed_tokens.weight"])
        embedded[positions == 0] = 0
        x = torch.cat([norm(own["enorm.weight"], eps)(embedded), norm(own["hnorm.weight"], eps)(hidden)], dim=-1)
        x = (x @ own["eh_proj.weight"].T).unsqueeze(0)
        position_ids = positions.unsqueeze(0)
        mask = create_causal_mask(config=config, inputs_embeds=x, attention_mask=None, cache=None, position_ids=position_ids)
        y = layer(x, attention_mask=mask, position_ids=position_ids, position_embeddings=model.model.rotary_emb(x, position_ids))
        logits = norm(own["shared_head.norm.weight"], eps)(y[0]) @ own["shared_head.head.weight"].T
    save_file({"tokens": torch.tensor(tokens, dtype=torch.float32), "logits": logits.contiguous()},
              os.path.join(args.model, "mtp_reference.safetensors"), metadata={"format": "pt"})
    print(f"mtp_reference.safetensors: {len(tokens)} tokens, logits {tuple(logits.shape)}, "
          f"greedy guesses {logits.argmax(-1).tolist()[:8]}...")


if __name__ == "__main__":
    main()
