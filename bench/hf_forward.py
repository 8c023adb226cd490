# Transformers reference logits for the GPU parity test (test/gpu-model.test.ts): loads a checkpoint
# directory (HF layout, as `gtr init-model` writes it) with transformers on CUDA, runs each token
# sequence (JSON list of lists in argv[2]) in bf16 and in fp32, and writes the logits of all
# sequences, concatenated, as raw float32 row-major files <out>.bf16.f32 and <out>.fp32.f32.
# Usage: python3 bench/hf_forward.py CKPT_DIR SEQS_JSON OUT_PREFIX
import json, sys
import torch
from transformers import AutoModelForCausalLM

ckpt, seqs_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
seqs = json.load(open(seqs_path))
for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
    model = AutoModelForCausalLM.from_pretrained(ckpt, dtype=dtype, attn_implementation="sdpa").cuda().eval()
    if dtype == torch.float32:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    rows = []
    with torch.no_grad():
        for s in seqs:
            ids = torch.tensor([s], device="cuda")
            rows.append(model(input_ids=ids).logits[0].float().cpu())
    torch.cat(rows, 0).contiguous().numpy().tofile(f"{out}.{name}.f32")
    del model
    torch.cuda.empty_cache()
print(json.dumps({"ok": True, "rows": sum(len(s) for s in seqs)}))
