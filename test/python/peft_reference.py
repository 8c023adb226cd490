"""PEFT references for test/lora.test.ts (computed in the same run, never recorded).
  peft_reference.py make BASE_DIR ADAPTER_DIR
      a random tiny Qwen3 (transformers) saved to BASE_DIR and a random LoRA adapter on it (PEFT,
      init_lora_weights=False so B is not zero; r 4, alpha 8, every projection) saved to
      ADAPTER_DIR; prints JSON: the fp32 logits of SEQUENCES with the adapter, and merged.
  peft_reference.py logprobs BASE_DIR ADAPTER_DIR TEXT
      BASE_DIR in transformers with the PEFT adapter ADAPTER_DIR (fp32 compute); prints the per-token
      log-probs of TEXT (null at 0) and its token ids, as JSON.
  peft_reference.py merged-logprobs MODEL_DIR TEXT
      the same for a plain (merged) checkpoint."""
import json
import sys

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen3Config

SEQUENCES = [[1, 17, 300, 45, 9], [250, 3, 3, 3, 77, 180, 2, 91, 400], [5]]


def logprobs(model, tok_dir, text):
    ids = AutoTokenizer.from_pretrained(tok_dir)(text)["input_ids"]
    with torch.no_grad():
        lp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), -1)
    return {"tokens": ids, "logprobs": [None] + [lp[i - 1, ids[i]].item() for i in range(1, len(ids))]}


mode = sys.argv[1]
if mode == "make":
    base_dir, adapter_dir = sys.argv[2], sys.argv[3]
    torch.manual_seed(7)
    cfg = Qwen3Config(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6,
                      max_position_embeddings=256, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
    base = AutoModelForCausalLM.from_config(cfg).float().eval()
    with torch.no_grad():
        for n, p in base.named_parameters():
            p.copy_(p + 0.1 * torch.randn_like(p) if "norm" in n else torch.randn_like(p) * 0.15)
    base.save_pretrained(base_dir)
    lcfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, init_lora_weights=False, task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    model = get_peft_model(base, lcfg).eval()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_" in n:
                p.copy_(torch.randn_like(p) * 0.3)
    model.save_pretrained(adapter_dir)
    with torch.no_grad():
        out = [model(torch.tensor([s])).logits[0].float() for s in SEQUENCES]
        merged = model.merge_and_unload()
        out_m = [merged(torch.tensor([s])).logits[0].float() for s in SEQUENCES]
    print(json.dumps({"sequences": SEQUENCES, "logits": torch.cat(out).flatten().tolist(),
                      "merged": torch.cat(out_m).flatten().tolist()}))
elif mode == "logprobs":
    base_dir, adapter_dir, text = sys.argv[2], sys.argv[3], sys.argv[4]
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, adapter_dir).eval()
    print(json.dumps(logprobs(model, base_dir, text)))
elif mode == "merged-logprobs":
    model_dir, text = sys.argv[2], sys.argv[3]
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    print(json.dumps(logprobs(model, model_dir, text)))
