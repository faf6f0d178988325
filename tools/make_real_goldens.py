#!/usr/bin/env python3
"""Real-model goldens: each cached GGUF loaded in transformers (dequantised to float32, eager
attention), a few prompts, the top-20 next-token ids and logits and a 20-token greedy
continuation; and one passage of 128 tokens with the top-10 ids and logits at every position, so
that the many-row products (the packed vector kernel, AMX where the CPU has it) are held to the
reference too: the short prompts run on the decode path. Writes Tests/Fixtures/real/<model>.json;
RealModelTests compares Lantern to them.

    python3 tools/make_real_goldens.py [--models DIR] [--out Tests/Fixtures/real]
        [--passage-only] [--lantern .build/release/lantern]

--passage-only keeps the prompts' goldens already in the files and (re)writes only the passage.
--lantern takes the passage's ids from `lantern tokenize --json` (which RealTokenizerTests holds
to the Hugging Face tokenizer) instead of transformers' GGUF tokenizer: transformers 4.57 splits
Gemma 3 text into far more pieces than 5.x does. The committed passages were made that way.
"""
import argparse, json, os, subprocess
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

MODELS = {"gemma3-270m": "gemma-3-270m-q4_k_m.gguf", "smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf"}
PROMPTS = ["The reliability of Wikipedia is very", "def fibonacci(n):", "Paris is the capital of"]
TOP, STEPS = 20, 20
# Long enough for 128 tokens in either tokenizer; cut to exactly 128.
PASSAGE = ("Lighthouses were once kept by families who lived beside the lamp. Every evening the keeper "
           "climbed the spiral stairs, trimmed the wick, polished the great lens and wound the clockwork "
           "that turned it, so that ships far out at sea could count the flashes and know which coast they "
           "were passing. In storms the keeper stayed awake all night, because a light that went dark could "
           "cost a crew their lives. Today most lighthouses run on their own: an electric lamp, a sensor that "
           "switches it on at dusk, and a radio beacon that reaches further than any flame ever did. Yet "
           "people still visit them, climb the same stairs and look out over the water.")
LONG_TOKENS, LONG_TOP = 128, 10


def main():
    ap = argparse.ArgumentParser()
    home = os.environ.get("LANTERN_HOME", os.path.expanduser("~/.cache/lantern"))
    ap.add_argument("--models", default=os.path.join(home, "models"))
    ap.add_argument("--out", default="Tests/Fixtures/real")
    ap.add_argument("--only", default=None)
    ap.add_argument("--passage-only", action="store_true")
    ap.add_argument("--lantern", default=None)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    for name, file in MODELS.items():
        if args.only and name != args.only:
            continue
        tok = AutoTokenizer.from_pretrained(args.models, gguf_file=file)
        model = AutoModelForCausalLM.from_pretrained(args.models, gguf_file=file, torch_dtype=torch.float32,
                                                     attn_implementation="eager").eval()
        print(name, model.config)
        out = os.path.join(args.out, f"{name}.json")
        cases = json.load(open(out))["cases"] if args.passage_only else []
        for prompt in [] if args.passage_only else PROMPTS:
            ids = tok(prompt)["input_ids"]
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0, -1]
                top = torch.topk(logits, TOP)
                seq = list(ids)
                for _ in range(STEPS):  # greedy, a full forward each step (no cache subtleties)
                    seq.append(int(model(torch.tensor([seq])).logits[0, -1].argmax()))
            cases.append({"prompt": prompt, "ids": ids, "top_ids": top.indices.tolist(),
                          "top_logits": [round(float(v), 5) for v in top.values],
                          "greedy": seq[len(ids):], "greedy_text": tok.decode(seq[len(ids):])})
            print(repr(prompt), ids, "→", repr(cases[-1]["greedy_text"]))
        if args.lantern:
            ids = json.loads(subprocess.run([args.lantern, "tokenize", "--model", name, "--backend", "cpu", "--json", "--text", PASSAGE],
                                            check=True, capture_output=True, text=True).stdout)["ids"][:LONG_TOKENS]
        else:
            ids = tok(PASSAGE)["input_ids"][:LONG_TOKENS]
        assert len(ids) == LONG_TOKENS, f"{name}: the passage is only {len(ids)} tokens"
        with torch.no_grad():
            top = torch.topk(model(torch.tensor([ids])).logits[0], LONG_TOP, dim=-1)
        passage = {"ids": ids, "top_ids": top.indices.tolist(),
                   "top_logits": [[round(float(v), 5) for v in row] for row in top.values]}
        versions = {"transformers": __import__("transformers").__version__}
        if args.passage_only:
            versions = {"transformers": json.load(open(out))["transformers"], "passage_transformers": versions["transformers"]}
        with open(out, "w") as f:
            json.dump({"model": name, "file": file, **versions, "cases": cases, "passage": passage}, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
