"""Settings of the end-to-end suite, from the environment (see conftest.py for the variables)."""

from __future__ import annotations

import os
from pathlib import Path

try:  # the openai package moved to a fork of httpx; either has the same transport API
    import httpx2 as httpx  # noqa: F401 (re-exported to e2e_http)
except ImportError:  # pragma: no cover
    import httpx  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[2]
OPENAI_SCHEMAS = REPO / "Tests/Fixtures/openai/openai-schemas.json"

MODEL = os.environ.get("MOESERVE_MODEL_ID", "smollm2-135m-instruct")
API_KEY = os.environ.get("MOESERVE_API_KEY", "sk-moeserve-e2e")
TIMEOUT = float(os.environ.get("MOESERVE_TIMEOUT", "120"))
BIN = os.environ.get("MOESERVE_BIN", "")
MODEL_PATH = os.environ.get(
    "MOESERVE_MODEL_PATH", str(REPO / "models/SmolLM2-135M-Instruct.Q4_1.gguf")
)

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
