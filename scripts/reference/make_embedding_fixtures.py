#!/usr/bin/env python3
"""Final hidden states of the tiny Hugging Face checkpoints, for the embedding (pooling) parity tests.

For each family fixture written by make_model_fixtures.py, this loads the checkpoint as transformers' base model
(`AutoModel`: no output head) and records `last_hidden_state` -- the hidden states after the final norm, which is
what sentence-transformers' Pooling module (and so every decoder embedding model) pools -- for the fixture's
20-token prompt. As a check that the checkpoint loaded as the logits fixtures saw it, the causal-LM head applied
to these states must give the committed reference logits.

Output: Tests/Fixtures/models/<family>/hidden.safetensors ("prompt_hidden": [P, E], fp32)
Run:    .venv-reference/bin/python scripts/reference/make_embedding_fixtures.py
"""
import json
import os

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModel, AutoModelForCausalLM

FAMILIES = ["deepseek_v3", "deepseek_v2", "qwen2_moe", "qwen3_moe", "mixtral", "olmoe", "llama", "qwen2", "qwen3"]
ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "models")


@torch.no_grad()
def main():
    torch.set_num_threads(1)
    for family in FAMILIES:
        directory = os.path.join(ROOT, family)
        with open(os.path.join(directory, "reference.json")) as f:
            prompt = json.load(f)["prompt_ids"]
        base = AutoModel.from_pretrained(directory, attn_implementation="eager", dtype=torch.float32).eval()
        hidden = base(input_ids=torch.tensor([prompt])).last_hidden_state[0]
        head = AutoModelForCausalLM.from_pretrained(directory, attn_implementation="eager", dtype=torch.float32).eval()
        logits = head.lm_head(hidden)
        expected = load_file(os.path.join(directory, "reference.safetensors"))["prompt_logits"]
        assert torch.allclose(logits, expected, atol=1e-4), f"{family}: the head over last_hidden_state differs from the reference logits"
        save_file({"prompt_hidden": hidden.contiguous()}, os.path.join(directory, "hidden.safetensors"), metadata={"format": "pt"})
        print(f"{family}: {tuple(hidden.shape)}")


if __name__ == "__main__":
    main()
