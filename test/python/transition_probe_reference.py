"""The transition experiment's exact mode probabilities by brute force with Hugging Face transformers:
for each prompt (token ids) and each format prefix (token ids), runs the model on prompt + prefix,
takes the softmax of the logits at every position and multiplies the prefix tokens' probabilities.
Reads {"model": DIR, "prompts": [[ids]], "prefixes": {"A": [ids], "B": [ids]}} on stdin; prints
{"first": {mode: [p per prompt]}, "seq": {mode: [p per prompt]}}. Used by test/transition-probe.test.ts."""
import json
import sys

import torch
from transformers import AutoModelForCausalLM

c = json.load(sys.stdin)
model = AutoModelForCausalLM.from_pretrained(c["model"], dtype=torch.float64).eval()
out = {"first": {}, "seq": {}}
for mode, prefix in c["prefixes"].items():
    out["first"][mode], out["seq"][mode] = [], []
    for prompt in c["prompts"]:
        ids = prompt + prefix
        with torch.no_grad():
            probs = torch.softmax(model(torch.tensor([ids])).logits[0].double(), dim=-1)
        p = [probs[len(prompt) - 1 + k, tok].item() for k, tok in enumerate(prefix)]
        seq = 1.0
        for v in p:
            seq *= v
        out["first"][mode].append(p[0])
        out["seq"][mode].append(seq)
print(json.dumps(out))
