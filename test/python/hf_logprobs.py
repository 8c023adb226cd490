"""Loads a checkpoint with Hugging Face transformers and prints, as JSON, the per-token log-probs
of a text (log_softmax of the logits at position i-1, taken at token i; null at i = 0), the token
ids transformers' tokenizer gives the text, and the parameters' stored dtype.
Usage: hf_logprobs.py MODEL_DIR TEXT [float32|bfloat16]. Used by test/interop-transformers.test.ts."""
import json
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

model_dir, text = sys.argv[1], sys.argv[2]
dtype = getattr(torch, sys.argv[3] if len(sys.argv) > 3 else "float32")
stored = AutoModelForCausalLM.from_pretrained(model_dir)  # dtype "auto" in transformers 5: as saved
stored_dtype = str(next(stored.parameters()).dtype).replace("torch.", "")
del stored
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).eval()
ids = AutoTokenizer.from_pretrained(model_dir)(text)["input_ids"]
with torch.no_grad():
    logits = model(torch.tensor([ids])).logits[0].float()
lp = torch.log_softmax(logits, dim=-1)
out = [None] + [lp[i - 1, ids[i]].item() for i in range(1, len(ids))]
print(json.dumps({"transformers": __import__("transformers").__version__, "tokens": ids, "logprobs": out, "stored_dtype": stored_dtype}))
