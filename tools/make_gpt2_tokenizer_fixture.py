#!/usr/bin/env python3
"""A GPT-2 style tokenizer made locally (no Hub access), and transformers' ids for it.

No real GPT-2 tokenizer is available offline, so this builds one the way GPT-2's is built: a
byte-level BPE trained with the `tokenizers` package (BpeTrainer, vocabulary of 1000, on this
script's fixed texts) under GPT-2's own pre-tokenizer (`ByteLevel` with its regex:
`'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+`, no prefix space), then
handed to transformers' `GPT2Tokenizer`, which sets the pre-tokenizer and decoder as GPT-2's
tokenizer.json has them and adds <|endoftext|> as its one special token (BOS, EOS and UNK alike,
and no BOS added to a text). What differs from the real GPT-2 tokenizer is only the size of the
vocabulary and its merges.

Writes, under Tests/Fixtures/tokenizers/:
  gpt2-tiny/tokenizer.json, tokenizer_config.json   as `save_pretrained` writes them
  gpt2-tiny.json        transformers' ids (with and without special-token parsing) and decodings
                        for the texts of tools/make_tokenizer_fixtures.py plus GPT-2-specific ones
                        and 60 random mixtures
  gpt2-tiny.gguf        the same vocabulary as llama.cpp stores it (tokenizer.ggml.model gpt2, pre
                        "gpt-2", tokens, token types, merges; general.architecture gpt2; no tensors)
  gpt2-tiny-gguf.json   transformers' ids for that GGUF's tokenizer

    python3 tools/make_gpt2_tokenizer_fixture.py   (tokenizers, transformers, gguf; seconds)
"""
import json
import os
import sys

from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, GPT2Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_qwen_tokenizer_fixture import OUT, write, write_gguf  # noqa: E402
from make_tokenizer_fixtures import random_texts, texts  # noqa: E402

# Where GPT-2's split differs from Qwen 2's and Llama 3's: contractions in lower case only, digit
# runs kept whole, a space joined to the run after it, whitespace runs less their last space.
GPT2_TEXTS = [
    "digits 2024 and 3.14159 stay in runs: 12345678901234567890",
    "DON'T SHOUT, I'LL HEAR, WE'VE, SHE'S, IT'D, THEY'RE, I'M",
    "don't shout, i'll hear, we've, she's, it'd, they're, i'm",
    "Don'T mIxEd 'S cAsEs 'Ll",
    "tab\tbefore\tletters, $dollars, #tags, @mentions, (parens)",
    "newlines\n\n\nthen text\r\n\r\nand  \n  indented\n",
    "spaces    before   words and at the end   ",
    "The Eiffel Tower is in Paris. When Mary and John went to the store, John gave a drink to",
    "text<|endoftext|>more text",
    "<|endoftext|><|endoftext|>",
    "   \u3000 ideographic space and\u00a0nbsp, Ⅻ roman numeral, ² superscript",
]


def main():
    all_texts = texts() + GPT2_TEXTS + random_texts(60, seed=11)
    trainer_tok = Tokenizer(models.BPE())
    trainer_tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=1000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    trainer_tok.train_from_iterator(all_texts * 3, trainer)
    vocab = trainer_tok.get_vocab()
    merges = [tuple(m) for m in json.loads(trainer_tok.to_str())["model"]["merges"]]

    tok = GPT2Tokenizer(vocab=vocab, merges=merges)
    folder = os.path.join(OUT, "gpt2-tiny")
    tok.save_pretrained(folder)
    for extra in ("special_tokens_map.json", "chat_template.jinja", "vocab.json", "merges.txt"):
        if os.path.exists(os.path.join(folder, extra)):
            os.remove(os.path.join(folder, extra))
    reloaded = AutoTokenizer.from_pretrained(folder)
    saved = json.load(open(os.path.join(folder, "tokenizer.json"), encoding="utf-8"))
    assert saved["pre_tokenizer"]["type"] == "ByteLevel" and saved["pre_tokenizer"]["use_regex"], saved["pre_tokenizer"]
    assert [t["content"] for t in saved["added_tokens"]] == ["<|endoftext|>"], saved["added_tokens"]
    write(os.path.join(OUT, "gpt2-tiny.json"), "gpt2-tiny", reloaded, all_texts, "gpt2-tiny/tokenizer.json")

    # The same vocabulary as llama.cpp's converter stores a GPT-2 tokenizer.
    write_gguf(os.path.join(OUT, "gpt2-tiny.gguf"), "gpt2", "gpt-2", saved, reloaded,
               bos=reloaded.bos_token_id, eos=reloaded.eos_token_id)
    from_gguf = AutoTokenizer.from_pretrained(OUT, gguf_file="gpt2-tiny.gguf")
    write(os.path.join(OUT, "gpt2-tiny-gguf.json"), "gpt2-tiny-gguf", from_gguf, all_texts, "gpt2-tiny.gguf")


if __name__ == "__main__":
    main()
