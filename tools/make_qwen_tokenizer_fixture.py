#!/usr/bin/env python3
"""A Qwen 2 style tokenizer made locally (no Hub access), and transformers' ids for it.

No real Qwen tokenizer is available offline, so this builds one the way Qwen's is built: a
byte-level BPE trained with the `tokenizers` package (BpeTrainer, vocabulary of 1000, on this
script's fixed texts) under Qwen 2's own pre-tokenizer (transformers' `PRETOKENIZE_REGEX`: digits
one by one, case-insensitive contractions, a non-letter glued to the letters after it, newline runs
kept together) and NFC normalizer, then handed to transformers' `Qwen2Tokenizer`, which sets the
pre-tokenizer, normalizer and decoder as Qwen's tokenizer.json has them and adds <|endoftext|>;
<|im_start|> and <|im_end|> are added as special tokens, as in Qwen 2.5 and Qwen 3. What differs
from a real Qwen tokenizer is only the size of the vocabulary and its merges.

Writes, under Tests/Fixtures/tokenizers/:
  qwen2-tiny/tokenizer.json, tokenizer_config.json   as `save_pretrained` writes them
  qwen2-tiny.json        transformers' ids (with and without special-token parsing) and decodings
                         for the texts of tools/make_tokenizer_fixtures.py plus Qwen-specific ones
                         and 60 random mixtures
  qwen2-tiny.gguf        the same vocabulary as llama.cpp stores it (tokenizer.ggml.model gpt2,
                         pre "qwen2", tokens, token types, merges; general.architecture qwen2; no
                         tensors)
  qwen2-tiny-gguf.json   transformers' ids for that GGUF's tokenizer (its GGUF loader splits with the
                         same regex but applies no NFC, as llama.cpp)

    python3 tools/make_qwen_tokenizer_fixture.py   (tokenizers, transformers, gguf; seconds)
"""
import json
import os
import sys

import gguf
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import AutoTokenizer, Qwen2Tokenizer
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tokenizer_fixtures import random_texts, texts  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "tokenizers")

# Where Qwen's split differs from GPT-2's, and NFC.
QWEN_TEXTS = [
    "digits 2024 and 3.14159 split one by one: 12345678901234567890",
    "DON'T SHOUT, I'LL HEAR, WE'VE, SHE'S, IT'D, THEY'RE, I'M",
    "Don'T mIxEd 'S cAsEs 'Ll",
    "long s: 'ſ",
    "tab\tbefore\tletters, $dollars, #tags, @mentions, (parens)",
    "newlines\n\n\nthen text\r\n\r\nand  \n  indented\n",
    "!!!\n\nafter punctuation\n",
    "cafe\u0301 na\u0308ive re\u0301sume\u0301 (decomposed, NFC composes them)",
    "Ａｂｃ full-width, ﬁ ligature, Ⅻ roman numeral, ² superscript",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "text<|endoftext|>more text",
    "<|im_start|><|im_end|><|endoftext|>",
    "   \u3000 ideographic space and\u00a0nbsp",
]


def cases(tok, all_texts):
    out = []
    for text in all_texts:
        ids = tok(text)["input_ids"]
        out.append({
            "text": text,
            "ids": ids,
            "ids_no_special": tok(text, split_special_tokens=True)["input_ids"],
            "decoded": tok.decode(ids, skip_special_tokens=False),
            "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
        })
    return out


def write(path, name, tok, all_texts, source):
    fixture = {"model": name, "source": source, "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id,
               "vocab_size": len(tok), "cases": cases(tok, all_texts)}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{path}: {len(fixture['cases'])} texts, vocabulary {len(tok)}")


def write_gguf(path, arch, pre, saved, tok, bos=None, eos=None, pad=None):
    """A byte-level BPE vocabulary (tokenizer.json `saved`) as llama.cpp's converter stores it:
    tokens by id, added tokens typed control (special) or user-defined, merges as "a b"."""
    tokens = [None] * len(tok)
    for token, index in saved["model"]["vocab"].items():
        tokens[index] = token
    types = [1] * len(tokens)
    for added in saved["added_tokens"]:
        tokens[added["id"]] = added["content"]
        types[added["id"]] = 3 if added["special"] else 4
    w = gguf.GGUFWriter(path, arch)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges([" ".join(m) for m in saved["model"]["merges"]])
    if bos is not None:
        w.add_bos_token_id(bos)
    if eos is not None:
        w.add_eos_token_id(eos)
    if pad is not None:
        w.add_pad_token_id(pad)
    w.add_add_bos_token(False)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    all_texts = texts() + QWEN_TEXTS + random_texts(60, seed=7)
    trainer_tok = Tokenizer(models.BPE())
    trainer_tok.normalizer = normalizers.NFC()
    trainer_tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trainer = trainers.BpeTrainer(vocab_size=1000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    trainer_tok.train_from_iterator(all_texts * 3, trainer)
    vocab = trainer_tok.get_vocab()
    merges = [tuple(m) for m in json.loads(trainer_tok.to_str())["model"]["merges"]]

    tok = Qwen2Tokenizer(vocab=vocab, merges=merges)
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    folder = os.path.join(OUT, "qwen2-tiny")
    tok.save_pretrained(folder)
    for extra in ("special_tokens_map.json", "chat_template.jinja"):
        if os.path.exists(os.path.join(folder, extra)):
            os.remove(os.path.join(folder, extra))
    reloaded = AutoTokenizer.from_pretrained(folder)
    write(os.path.join(OUT, "qwen2-tiny.json"), "qwen2-tiny", reloaded, all_texts, "qwen2-tiny/tokenizer.json")

    # The same vocabulary as llama.cpp's converter stores a Qwen 2 tokenizer.
    saved = json.load(open(os.path.join(folder, "tokenizer.json"), encoding="utf-8"))
    write_gguf(os.path.join(OUT, "qwen2-tiny.gguf"), "qwen2", "qwen2", saved, reloaded,
               eos=reloaded.eos_token_id, pad=reloaded.pad_token_id)
    from_gguf = AutoTokenizer.from_pretrained(OUT, gguf_file="qwen2-tiny.gguf")
    write(os.path.join(OUT, "qwen2-tiny-gguf.json"), "qwen2-tiny-gguf", from_gguf, all_texts, "qwen2-tiny.gguf")


if __name__ == "__main__":
    main()
