#!/usr/bin/env python3
"""Real-model goldens: each cached GGUF loaded in transformers (dequantised to float32, eager
attention), a few prompts, the top-20 next-token ids and logits and a 20-token greedy
continuation. Writes Tests/Fixtures/real/<model>.json; RealModelTests compares Lantern to them.

    python3 tools/make_real_goldens.py [--models DIR] [--out Tests/Fixtures/real]
"""
import argparse, json, os
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

MODELS = {"gemma3-270m": "gemma-3-270m-q4_k_m.gguf", "smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf"}
PROMPTS = ["The reliability of Wikipedia is very", "def fibonacci(n):", "Paris is the capital of"]
TOP, STEPS = 20, 20


def main():
    ap = argparse.ArgumentParser()
    home = os.environ.get("LANTERN_HOME", os.path.expanduser("~/.cache/lantern"))
    ap.add_argument("--models", default=os.path.join(home, "models"))
    ap.add_argument("--out", default="Tests/Fixtures/real")
    ap.add_argument("--only", default=None)
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
        cases = []
        for prompt in PROMPTS:
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
        with open(os.path.join(args.out, f"{name}.json"), "w") as f:
            json.dump({"model": name, "file": file, "transformers": __import__("transformers").__version__,
                       "cases": cases}, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
