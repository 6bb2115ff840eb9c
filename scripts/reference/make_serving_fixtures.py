"""Makes the tiny Hugging Face checkpoints in Tests/Fixtures/models/ servable end to end.

Those checkpoints have a 256-token vocabulary and no tokenizer. This script builds one
character-level tokenizer that fits it (Hugging Face `tokenizers`, BPE without merges:
ids 0-2 are `<s>`, `</s>`, `<unk>`, ids 3-255 one character each), a `tokenizer_config.json` with
a small chat template, and for every family the text `tokenizers` decodes from the greedy tokens
`transformers` produced after the fixture's prompt (`reference.json`). The end-to-end suite
(scripts/e2e/test_hf_folders.py) assembles a model folder from a family's checkpoint and these
files, serves it with `moeserve serve --model FOLDER`, sends the prompt ids to /v1/completions
and expects exactly that text.

    .venv-reference/bin/python scripts/reference/make_serving_fixtures.py

Writes Tests/Fixtures/models/serving/{tokenizer.json,tokenizer_config.json,expected.json}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import tokenizers
from tokenizers import Tokenizer, decoders, models

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "Tests/Fixtures/models"
OUT = FIXTURES / "serving"
VOCAB_SIZE = 256
SPECIALS = ["<s>", "</s>", "<unk>"]

# Printable ASCII first (so prompts in English tokenise), then Latin-1 letters, Greek and Cyrillic.
CHARACTERS = [chr(c) for c in range(0x20, 0x7F)]
CHARACTERS += [chr(c) for c in range(0xC0, 0x100)]
CHARACTERS += [chr(c) for c in range(0x391, 0x3CA) if chr(c).isalpha()]
CHARACTERS += [chr(c) for c in range(0x410, 0x450)]  # Cyrillic

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ message['role'] }}: {{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}"
)


def build_tokenizer() -> Tokenizer:
    chars = CHARACTERS[: VOCAB_SIZE - len(SPECIALS)]
    assert len(chars) == VOCAB_SIZE - len(SPECIALS), len(chars)
    vocab = {token: i for i, token in enumerate(SPECIALS + chars)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(SPECIALS)
    assert tok.get_vocab_size() == VOCAB_SIZE
    return tok


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    tok.save(str(OUT / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "add_bos_token": False,
        "chat_template": CHAT_TEMPLATE,
        "model_max_length": 512,
    }
    (OUT / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")

    expected = {}
    for folder in sorted(FIXTURES.iterdir()):
        ref = folder / "reference.json"
        if not ref.exists():
            continue
        r = json.loads(ref.read_text())
        expected[folder.name] = {
            "prompt_ids": r["prompt_ids"],
            "decode_ids": r["decode_ids"],
            "text": tok.decode(r["decode_ids"], skip_special_tokens=True),
        }
    meta = {"tokenizers": tokenizers.__version__, "python": sys.version.split()[0]}
    (OUT / "expected.json").write_text(json.dumps({"versions": meta, "families": expected},
                                                  indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {OUT} ({len(expected)} families)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
