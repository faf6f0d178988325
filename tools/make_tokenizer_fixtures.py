#!/usr/bin/env python3
"""Tokenizer fixtures: ids and decoded text from transformers for the two real models.

For each model, loads the tokenizer transformers builds from the model's GGUF
(`AutoTokenizer.from_pretrained(dir, gguf_file=name)`), encodes a fixed, varied set of texts, and
writes `Tests/Fixtures/tokenizers/<model>.json` (committed). It also saves the tokenizer as a Hub
`tokenizer.json` under `$LANTERN_HOME/tokenizers/<model>/` (default `~/.cache/lantern`), NOT
committed, which the Swift tests load the vocabulary from.

    python3 tools/make_tokenizer_fixtures.py --gguf gemma3-270m=/path/gemma-3-270m-q4_k_m.gguf \
        --gguf smollm2-135m=/path/SmolLM2-135M-Instruct.Q4_1.gguf
"""
import argparse
import json
import os
import random

from gguf import GGUFReader
from transformers import AutoTokenizer


def texts():
    fixed = [
        "",
        "The reliability of Wikipedia is very",
        "Hello world",
        "Hello, world! How are you doing today?",
        " leading space",
        "   three leading spaces",
        "trailing space ",
        "trailing spaces   ",
        " ",
        "  ",
        "     ",
        "\n",
        "\n\n\n",
        "a\n\nb\n\n\n\nc",
        "two  spaces   three    four",
        "\ttab\tseparated\t\tvalues",
        "mixed \t \n whitespace \r\n end",
        "line one\nline two\r\nline three",
        "café naïve résumé façade Ångström",
        "Ünïcödé àccents: ñ ç ß ø œ",
        "日本語のテキストです。東京は大きい。",
        "中文分词测试：你好，世界！",
        "한국어 텍스트",
        "Привет, мир! Как дела?",
        "مرحبا بالعالم",
        "emoji 😀👍🏽🎉 and family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵",
        "🤖",
        "digits 0123456789 and 3.14159, 1,000,000 and 2026-11-24",
        "12345678901234567890",
        "x = 42; y = x ** 2 + 1e-5",
        "def add(a, b):\n    return a + b\n\nprint(add(1, 2))",
        "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
        "if x:\n        deeply_indented()\n",
        "<html><head><title>Test</title></head><body><p class=\"x\">Hi &amp; bye</p></body></html>",
        "<table><tr><td>1</td><td>2</td></tr></table>",
        "<div>\n  <span>nested</span>\n</div>",
        "I'm sure they're here, we've got it, you'll see, he'd say, it's OK",
        "DON'T SHOUT, I'LL HEAR",
        "hyphen-ated words and under_scores and CamelCaseWords",
        "URL: https://example.com/path?q=1&r=two#frag",
        "email: someone@example.org",
        "!!!???...,,,;;;:::",
        "((([[[{{{}}}]]])))",
        "$100 €200 £300 ¥400",
        "math: ∑ ∫ √ ∞ ≠ ≤ ≥ α β γ",
        "zero\u200bwidth\u200dspace",
        "non\u00a0breaking space",
        "a" * 200,
        "The quick brown fox jumps over the lazy dog. " * 5,
        "<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n",
        "<bos>text with bos<eos>",
        "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
        "<|endoftext|>",
        "<unk> <pad> <mask>",
        "<0x41> looks like a byte token",
        "▁ already a metaspace ▁▁",
        "Ġ and Ċ are byte-level letters",
    ]
    rng = random.Random(1234)
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "0123456789",
        " \t\n",
        ".,;:!?'\"()[]{}<>-_/\\@#$%^&*+=~`|",
        "éèêëàâäôöùûüçñßøåæœ",
        "日本語中文한국어ひらがなカタカナ",
        "😀👍🎉🤖🔥✨",
    ]
    for _ in range(12):
        n = rng.randint(5, 60)
        fixed.append("".join(rng.choice(rng.choice(pools)) for _ in range(n)))
    return fixed


def random_texts(count, seed):
    """Longer random texts mixing scripts, whitespace, digits, punctuation and special-token spellings."""
    rng = random.Random(seed)
    words = ["the", "The", " of", "Wikipedia", "naïve", "über", "東京", "中文", "한국", "Привет", "مرحبا", "😀", "👍🏽",
             "<bos>", "<eos>", "<start_of_turn>", "<|im_start|>", "<|endoftext|>", "<td>", "</p>", "'s", "'ll", "'RE",
             "123", "4567", "3.14", "\u00a0", "\u200b", "e\u0301", "\u037e", ";", "▁", "Ġ", "<0x41>", "\r\n", "\t\t"]
    chars = "abcXYZ019 .,;:!?'\"()[]{}<>-_/\\@#$%^&*+=~`|\t\n\r éßø日本語ひカ한😀🎉\u0301\u00a0\u3000\u2028"
    out = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 30)):
            r = rng.random()
            if r < 0.4:
                parts.append(rng.choice(words))
            elif r < 0.7:
                parts.append(" " * rng.randint(1, 4))
            else:
                parts.append("".join(rng.choice(chars) for _ in range(rng.randint(1, 6))))
        out.append("".join(parts))
    return out


def gguf_vocabulary(path):
    """The `tokenizer.ggml.*` metadata, as the Swift tests build a TokenizerVocabulary from it."""
    reader = GGUFReader(path)
    out = {}
    for key, field in reader.fields.items():
        if key.startswith("tokenizer.ggml.") or key == "general.architecture":
            out[key] = field.contents()
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gguf", action="append", required=True, help="name=path/to/model.gguf")
    parser.add_argument("--stress", type=int, default=1000, help="random texts for the uncommitted stress set")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "tokenizers"))
    args = parser.parse_args()
    home = os.environ.get("LANTERN_HOME", os.path.expanduser("~/.cache/lantern"))
    os.makedirs(args.out, exist_ok=True)
    for spec in args.gguf:
        name, path = spec.split("=", 1)
        tok = AutoTokenizer.from_pretrained(os.path.dirname(os.path.abspath(path)), gguf_file=os.path.basename(path))
        cache = os.path.join(home, "tokenizers", name)
        tok.save_pretrained(cache)
        with open(os.path.join(cache, "gguf_tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(gguf_vocabulary(path), f, ensure_ascii=False)
        stress = [{"text": t, "ids": tok(t)["input_ids"], "ids_no_special": tok(t, split_special_tokens=True)["input_ids"]}
                  for t in random_texts(args.stress, seed=99)]
        with open(os.path.join(cache, "stress.json"), "w", encoding="utf-8") as f:
            json.dump(stress, f, ensure_ascii=False)
        cases = []
        for text in texts():
            ids = tok(text)["input_ids"]
            literal = tok(text, split_special_tokens=True)["input_ids"]
            cases.append({
                "text": text,
                "ids": ids,
                "ids_no_special": literal,
                "decoded": tok.decode(ids, skip_special_tokens=False),
                "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
            })
        fixture = {
            "model": name,
            "source": os.path.basename(path),
            "bos_token_id": tok.bos_token_id,
            "eos_token_id": tok.eos_token_id,
            "vocab_size": len(tok),
            "cases": cases,
        }
        out = os.path.join(args.out, f"{name}.json")
        with open(out, "w", encoding="utf-8") as f:
            json.dump(fixture, f, ensure_ascii=False, indent=1)
        print(f"{out}: {len(cases)} texts")


if __name__ == "__main__":
    main()
