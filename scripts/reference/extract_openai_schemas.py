#!/usr/bin/env python3
"""Extracts the OpenAI response schemas the end-to-end tests validate against.

OpenAI's OpenAPI description (openai/openai-openapi, about 3 MB of YAML) is far more than the
tests need. This keeps only the schemas that MoEServe's responses must satisfy and everything
they reference, transitively, and writes them as JSON:

    Tests/Fixtures/openai/openai-schemas.json   {"components": {"schemas": {...}}}

The schemas are copied as they are (OpenAPI 3.1 dialect, with OpenAI's `nullable` and `x-`
keys), except that the documentation-only `x-oaiMeta` blocks (long example payloads) are
dropped. The e2e tests (scripts/e2e/conftest.py) turn `nullable` into JSON Schema when they
load the file. Needs PyYAML; run it with the system Python:

    python3 scripts/reference/extract_openai_schemas.py \
        [--spec ../shared/testdata/openai/openapi.yaml] [--out Tests/Fixtures/openai]

It also copies the spec's LICENSE next to the output. The tests never read the spec itself.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
# shared/ sits beside the repository checkout.
DEFAULT_SPEC = REPO.parent / "shared/testdata/openai/openapi.yaml"

# The response bodies MoEServe sends that OpenAI's API also has.
ROOTS = [
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
    "CreateCompletionResponse",
    "ListModelsResponse",
    "Model",
    "ErrorResponse",
    "Response",
    "ResponseStreamEvent",
    "ResponseItemList",
    "CreateEmbeddingResponse",
]
REF_PREFIX = "#/components/schemas/"
DROPPED_KEYS = {"x-oaiMeta"}


def refs_in(node, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                if not isinstance(value, str) or not value.startswith(REF_PREFIX):
                    raise SystemExit(f"unexpected $ref {value!r}: only {REF_PREFIX}... is supported")
                found.add(value[len(REF_PREFIX):])
            else:
                refs_in(value, found)
    elif isinstance(node, list):
        for value in node:
            refs_in(value, found)


def strip(node):
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k not in DROPPED_KEYS}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def closure(schemas: dict, roots: list[str]) -> list[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in schemas:
            raise SystemExit(f"schema {name!r} is referenced but not defined in the spec")
        seen.add(name)
        found: set[str] = set()
        refs_in(schemas[name], found)
        todo.extend(sorted(found - seen))
    return sorted(seen)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    parser.add_argument("--out", type=Path, default=REPO / "Tests/Fixtures/openai")
    args = parser.parse_args()

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with args.spec.open("rb") as f:
        spec = yaml.load(f, Loader=loader)
    schemas = spec["components"]["schemas"]
    names = closure(schemas, ROOTS)
    doc = {"components": {"schemas": {name: strip(schemas[name]) for name in names}}}

    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "openai-schemas.json"
    text = json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    out.write_text(text, encoding="utf-8")
    license_src = args.spec.parent / "LICENSE"
    if license_src.exists():
        shutil.copyfile(license_src, args.out / "LICENSE")
    print(f"wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out}: "
          f"{len(names)} schemas, {len(text.encode())} bytes", file=sys.stderr)
    print("  " + ", ".join(names), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
