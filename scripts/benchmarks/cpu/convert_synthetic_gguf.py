#!/usr/bin/env python3
"""Converts the synthetic MoE folder to GGUF with llama.cpp's own convert_hf_to_gguf.py (from the
llama-cpp-python sdist that moe.sh downloads into the cache; never committed), Q8_0 like our load-time
quantisation.

    convert_synthetic_gguf.py --llama-cpp DIR/vendor/llama.cpp --model FOLDER --out FILE.gguf

The converter is run unchanged with its bundled gguf-py first on sys.path, with one override: it names a
BPE tokenizer's pre-tokenizer by hashing the ids it gives for a fixed text, and only knows published
vocabularies. Ours is a small vocabulary trained for this project with DeepSeek-V3's pre-tokenizer regexes
(Tests/Fixtures/tokenizer-json/bytelevel-deepseek-v3), so its hash is unknown; we tell the converter it is
"deepseek-v3", which selects the same regexes in llama.cpp. The benchmark feeds token ids, so the tokenizer
never affects the numbers.
"""
import argparse
import os
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama-cpp", required=True, help="llama.cpp source folder holding convert_hf_to_gguf.py and gguf-py/")
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--outtype", default="q8_0")
    args = ap.parse_args()
    sys.path[:0] = [os.path.join(args.llama_cpp, "gguf-py"), args.llama_cpp]
    import convert_hf_to_gguf as converter

    converter.TextModel.get_vocab_base_pre = lambda self, tokenizer: "deepseek-v3"
    tmp = args.out + ".partial"
    sys.argv = ["convert_hf_to_gguf.py", args.model, "--outfile", tmp, "--outtype", args.outtype]
    converter.main()
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
