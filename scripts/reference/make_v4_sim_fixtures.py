"""Layer schedules of DeepSeek-V4 configs as `transformers` resolves them, for the simulator's config tests.

The timing-only simulator (Sources/Model/Simulation/DeepSeekV4SimConfig.swift) decodes the keys of a
`deepseek_v4` config.json itself. Each case here is a config.json body (`input`) and the per-layer
attention and MoE schedule plus compress rates that `transformers.DeepseekV4Config` derives from it
(defaults, legacy `compress_ratios` with the trailing MTP slot, explicit `layer_types`, legacy
`compress_rate_csa/hca`).

    .venv-reference/bin/python scripts/reference/make_v4_sim_fixtures.py

Writes Tests/Fixtures/deepseek-v4-sim/schedules.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import DeepseekV4Config

OUT = Path(__file__).resolve().parents[2] / "Tests/Fixtures/deepseek-v4-sim/schedules.json"


def flash_ratios() -> list[int]:
    return [0, 0] + [4 if i % 2 == 0 else 128 for i in range(2, 43)] + [0]


CASES = {
    "defaults": {},
    "flash_compress_ratios": {"num_hidden_layers": 43, "compress_ratios": flash_ratios(), "num_hash_layers": 3},
    "pro_compress_ratios": {"num_hidden_layers": 61, "num_hash_layers": 3,
                            "compress_ratios": [128, 128] + [4 if i % 2 == 0 else 128 for i in range(2, 61)] + [0]},
    "explicit_lists": {"num_hidden_layers": 5,
                       "layer_types": ["sliding_attention", "compressed_sparse_attention", "heavily_compressed_attention",
                                       "sliding_attention", "compressed_sparse_attention"],
                       "mlp_layer_types": ["moe", "hash_moe", "moe", "moe", "moe"],
                       "compress_rates": {"compressed_sparse_attention": 8, "heavily_compressed_attention": 64}},
    "legacy_rates": {"num_hidden_layers": 4, "num_hash_layers": 1, "compress_rate_csa": 8, "compress_rate_hca": 32},
}


def main() -> None:
    out = {}
    for name, body in CASES.items():
        c = DeepseekV4Config(**body)
        out[name] = {"input": body, "layer_types": list(c.layer_types), "mlp_layer_types": list(c.mlp_layer_types),
                     "compress_rates": dict(c.compress_rates)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
