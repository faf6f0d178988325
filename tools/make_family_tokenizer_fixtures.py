#!/usr/bin/env python3
"""Mistral-, OLMo 2- and Pythia-style tokenizers made locally (no Hub access), and their ids.

No real tokenizer of these families is available offline, so each is built the way the real one
is, with the `tokenizers` package (BpeTrainer on this script's fixed texts), and only its
vocabulary and merges differ from the real one:

  mistral-tiny  SentencePiece-style BPE with byte fallback (<0x00>…<0xFF>), handed to transformers'
                `LlamaTokenizer` (Mistral's class), which writes a Metaspace pre-tokenizer that
                prepends "▁" to the first piece only, adds <s> to every text, and keeps <unk>, <s>,
                </s>; [INST] and [/INST] are added as special tokens, as in Mistral's instruct models.
  olmo2-tiny    byte-level BPE under OLMo 2's tokenizer.json pre-tokenizer: a `Split` with the
                cl100k regex (digits in runs of at most three, case-insensitive contractions), then
                ByteLevel without its own regex; <|endoftext|> (EOS) and <|pad|>. Llama 3's
                tokenizer splits with the same regex.
  pythia-tiny   GPT-NeoX's: byte-level BPE under GPT-2's regex after NFC, handed to transformers'
                `GPTNeoXTokenizer` (<|endoftext|>, <|padding|>), plus runs of 2 to 8 spaces as
                added non-special tokens, as gpt-neox-20b's tokenizer has them.

The ids are transformers' (`PreTrainedTokenizerFast` over each saved tokenizer.json: transformers
5's `GPT2Tokenizer`, the class OLMo 2's config names, rebuilds the pre-tokenizer as GPT-2's and
would drop the file's Split; the file's own pipeline is what the model was trained with).

Writes, under Tests/Fixtures/tokenizers/:
  <name>/tokenizer.json, tokenizer_config.json   the tokenizer as saved
  <name>.json            ids (with and without special-token parsing) and decodings for the texts of
                         tools/make_tokenizer_fixtures.py, the family's own and 60 random mixtures
  olmo2-tiny.gguf, pythia-tiny.gguf   the same vocabularies as llama.cpp's converter stores them
                         (tokenizer.ggml.model gpt2, pre "dbrx" and "gpt-2": llama.cpp splits "dbrx"
                         with the cl100k regex); their expected ids are the tokenizer.json ids, less
                         NFC for Pythia (llama.cpp applies none)

    python3 tools/make_family_tokenizer_fixtures.py   (tokenizers, transformers, gguf; seconds)
"""
import json
import os
import sys

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import GPTNeoXTokenizer, LlamaTokenizer, PreTrainedTokenizerFast

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_qwen_tokenizer_fixture import OUT, write, write_gguf  # noqa: E402
from make_tokenizer_fixtures import random_texts, texts  # noqa: E402

CL100K = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

SHARED_TEXTS = [
    "digits 2024 and 3.14159 in runs: 12345678901234567890 1 12 123 1234",
    "DON'T SHOUT, I'LL HEAR, WE'VE, SHE'S, IT'D, THEY'RE, I'M",
    "Don'T mIxEd 'S cAsEs 'Ll",
    "tab\tbefore\tletters, $dollars, #tags, @mentions, (parens)",
    "newlines\n\n\nthen text\r\n\r\nand  \n  indented\n",
    "spaces    before   words and at the end   ",
    "cafe\u0301 na\u0308ive re\u0301sume\u0301 (decomposed)",
    "   \u3000 ideographic space and\u00a0nbsp, Ⅻ roman numeral, ² superscript, emoji 🦙🔥",
]
FAMILY_TEXTS = {
    "mistral-tiny": ["[INST] What is the capital of France? [/INST] Paris.</s>[INST] And Italy?[/INST]",
                     "<s>text after a literal BOS", " leading space", "  two leading spaces", "▁already▁metaspace",
                     "unseen bytes: ☃ ∮ ⟁ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢"],
    "olmo2-tiny": ["text<|endoftext|>more text<|pad|>", "<|endoftext|><|endoftext|>", "'ſ long s"],
    "pythia-tiny": ["def f(x):\n        return x  # eight spaces\n    pass", "text<|endoftext|>more<|padding|>",
                    "a  b   c    d     e      f       g        h         i"],
}


def train(normalizer, pre_tokenizer, all_texts, vocab_size=1000, model=None, special=(), alphabet=True):
    tok = Tokenizer(model or models.BPE())
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(special), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet() if alphabet else [])
    tok.train_from_iterator(all_texts * 3, trainer)
    return tok


def vocab_and_merges(tok):
    saved = json.loads(tok.to_str())
    return saved["model"]["vocab"], [tuple(m) for m in saved["model"]["merges"]]


def reference(folder):
    """transformers over the saved tokenizer.json as it is."""
    config = json.load(open(os.path.join(folder, "tokenizer_config.json"), encoding="utf-8"))
    keys = {k: config[k] for k in ("bos_token", "eos_token", "pad_token", "unk_token") if config.get(k)}
    return PreTrainedTokenizerFast(tokenizer_file=os.path.join(folder, "tokenizer.json"), **keys)


def tidy(folder):
    for extra in ("special_tokens_map.json", "chat_template.jinja"):
        if os.path.exists(os.path.join(folder, extra)):
            os.remove(os.path.join(folder, extra))


def mistral(all_texts):
    specials = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    trained = train(normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]), None, all_texts,
                    vocab_size=1200, model=models.BPE(byte_fallback=True, unk_token="<unk>"), special=specials, alphabet=False)
    vocab, merges = vocab_and_merges(trained)
    tok = LlamaTokenizer(vocab=vocab, merges=merges, add_bos_token=True)
    tok.add_special_tokens({"additional_special_tokens": ["[INST]", "[/INST]"]})
    folder = os.path.join(OUT, "mistral-tiny")
    tok.save_pretrained(folder)
    tidy(folder)
    return folder


def olmo2(all_texts):
    tok = train(None, pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(CL100K), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ]), all_texts)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_special_tokens(["<|endoftext|>", "<|pad|>"])
    folder = os.path.join(OUT, "olmo2-tiny")
    os.makedirs(folder, exist_ok=True)
    tok.save(os.path.join(folder, "tokenizer.json"))
    config = {"tokenizer_class": "GPT2Tokenizer", "add_bos_token": False, "bos_token": "<|endoftext|>",
              "eos_token": "<|endoftext|>", "pad_token": "<|pad|>", "unk_token": "<|endoftext|>"}
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    return folder


def pythia(all_texts):
    trained = train(normalizers.NFC(), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True), all_texts)
    vocab, merges = vocab_and_merges(trained)
    tok = GPTNeoXTokenizer(vocab=vocab, merges=merges)
    tok.add_tokens([" " * n for n in range(2, 9)])
    folder = os.path.join(OUT, "pythia-tiny")
    tok.save_pretrained(folder)
    tidy(folder)
    return folder


def main():
    for name, build, gguf in [("mistral-tiny", mistral, None), ("olmo2-tiny", olmo2, ("olmo2", "dbrx")),
                              ("pythia-tiny", pythia, ("gptneox", "gpt-2"))]:
        all_texts = texts() + SHARED_TEXTS + FAMILY_TEXTS[name] + random_texts(60, seed=len(name))
        folder = build(all_texts)
        tok = reference(folder)
        write(os.path.join(OUT, f"{name}.json"), name, tok, all_texts, f"{name}/tokenizer.json")
        if gguf:
            saved = json.load(open(os.path.join(folder, "tokenizer.json"), encoding="utf-8"))
            write_gguf(os.path.join(OUT, f"{name}.gguf"), gguf[0], gguf[1], saved, tok,
                       eos=tok.eos_token_id, pad=tok.pad_token_id)
            if name == "pythia-tiny":
                # llama.cpp normalises nothing: the ids of the same pipeline without NFC.
                raw = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
                raw.normalizer = None
                raw.save(os.path.join("/tmp", "pythia-no-nfc.json"))
                tok = PreTrainedTokenizerFast(tokenizer_file="/tmp/pythia-no-nfc.json", eos_token=tok.eos_token,
                                              pad_token=tok.pad_token, unk_token=tok.unk_token, bos_token=tok.bos_token)
            write(os.path.join(OUT, f"{name}-gguf.json"), f"{name}-gguf", tok, all_texts, f"{name}.gguf")


if __name__ == "__main__":
    main()
