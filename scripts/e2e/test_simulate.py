"""`moeserve simulate` on full-size DeepSeek-V4 (and V3.2) configs, through the real binary (issue 11).

Timing-only simulation needs no weights, so full-size V4-Flash and V4-Pro run here; the suite checks
they finish within seconds (a generous bound: the release binary takes well under one), print the
per-layer-type attention table and the KV bytes per token, and write a Perfetto trace that parses.
Needs MOESERVE_BIN (skips without it).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

BIN = os.environ.get("MOESERVE_BIN", "")


def simulate(*args: str, timeout: float = 30) -> tuple[str, float]:
    if not BIN:
        pytest.skip("MOESERVE_BIN not set")
    start = time.monotonic()
    done = subprocess.run([BIN, "simulate", *args], capture_output=True, text=True, timeout=timeout)
    elapsed = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    return done.stdout, elapsed


@pytest.mark.parametrize(("name", "types"), [("deepseek-v4-flash", ["sliding", "CSA", "HCA"]),
                                             ("deepseek-v4-pro", ["CSA", "HCA"])])
def test_v4_builtins_report_attention_per_layer_type(name: str, types: list[str], tmp_path: Path) -> None:
    trace = tmp_path / "trace.json"
    out, elapsed = simulate("--model-config", name, "--chips", "32", "--ep", "32", "--batch", "64",
                            "--context", "8192", "--phase", "decode", "--trace", str(trace))
    assert elapsed < 10, f"simulate took {elapsed:.1f} s"
    assert "attention per layer type" in out
    rows = {line.split()[0] for line in out.splitlines() if re.match(r"^(sliding|CSA|HCA)\s+\d+\s", line)}
    assert rows == set(types)
    assert re.search(r"tokens/s per chip", out) and re.search(r"bytes per cached token", out)
    events = json.loads(trace.read_text())["traceEvents"]
    names = {e["name"] for e in events if e.get("ph") == "X"}
    assert any(n.endswith(".attn.core") for n in names) and any(n.endswith(".indexer.scores") for n in names)


def test_v4_config_json_is_simulated_as_v4(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_type": "deepseek_v4", "num_hidden_layers": 4,
                                  "compress_ratios": [0, 4, 128, 4, 0], "num_hash_layers": 1}))
    out, _ = simulate("--model-config", str(config), "--chips", "8", "--ep", "8", "--batch", "8", "--context", "1024")
    assert "sliding+hash ×1" in out and "CSA+topk ×2" in out and "HCA+topk ×1" in out


def test_v32_builtin_reports_sparse_attention() -> None:
    out, elapsed = simulate("--model-config", "deepseek-v3.2", "--chips", "32", "--ep", "32", "--batch", "16",
                            "--context", "32768")
    assert elapsed < 10, f"simulate took {elapsed:.1f} s"
    assert re.search(r"DSA ×61 — 2048\.0 keys per query", out) and "85888 bytes per token" in out
