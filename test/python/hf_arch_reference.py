"""Makes a random tiny checkpoint of one architecture with transformers itself and prints, as JSON, the
fp32 logits it computes for a batch of sequences (each run alone, no padding) and its greedy
continuations. Usage: hf_arch_reference.py OUT_DIR VARIANT, VARIANT one of the names in VARIANTS, or
`config` to build the model from OUT_DIR/config.json as written by the caller (a preset narrowed in width).
Used by test/architectures.test.ts (the reference is computed in the same run, never recorded)."""
import json
import sys

import torch
import transformers
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config, Qwen3Config

SHAPE = dict(
    vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2, pad_token_id=0,
)
LLAMA3_ROPE = {
    "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
    # small, so that at these lengths all three bands (kept, interpolated, divided) exist
    "original_max_position_embeddings": 64, "rope_theta": 500000.0,
}
VARIANTS = {
    # Qwen2.5: q/k/v biases, no q/k norm, sliding-window fields present but off
    "qwen2": lambda: Qwen2Config(**SHAPE, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                                 max_position_embeddings=256, tie_word_embeddings=True,
                                 use_sliding_window=False, sliding_window=4096, max_window_layers=2),
    # Llama 3.2: llama3 RoPE scaling, tied, no biases
    "llama": lambda: LlamaConfig(**SHAPE, rope_parameters=dict(LLAMA3_ROPE), max_position_embeddings=256,
                                 tie_word_embeddings=True),
    # Llama with every optional switch: untied lm_head, attention_bias (q/k/v/o), mlp_bias
    "llama-bias": lambda: LlamaConfig(**SHAPE, rope_parameters=dict(LLAMA3_ROPE), max_position_embeddings=256,
                                      tie_word_embeddings=False, attention_bias=True, mlp_bias=True),
    # Qwen3 with attention_bias (q/k/v/o biases beside q/k norm)
    "qwen3-bias": lambda: Qwen3Config(**SHAPE, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                                      max_position_embeddings=256, tie_word_embeddings=False,
                                      attention_bias=True),
}
SEQUENCES = [
    [1, 17, 300, 45, 9],
    [250, 3, 3, 3, 77, 180, 2, 91, 400],
    [5],
    [100, 200, 300, 400, 500, 12, 13, 14, 15, 16, 17, 18, 19] * 3,
]
GEN_PROMPTS = [[1, 17, 300], [250, 3, 3, 3, 77], [42]]
GEN_NEW_TOKENS = 12

out, variant = sys.argv[1], sys.argv[2]
torch.manual_seed(sum(map(ord, variant)))
cfg = transformers.AutoConfig.from_pretrained(out) if variant == "config" else VARIANTS[variant]()
cfg._attn_implementation = "eager"
model = AutoModelForCausalLM.from_config(cfg).to(torch.float32).eval()
with torch.no_grad():
    # HF's init (std 0.02, zero biases) gives near-zero logits that would hide a wrong bias, RoPE or
    # attention inside the tolerance: use larger weights and biases, and perturb the norms.
    for n, p in model.named_parameters():
        if "norm" in n:
            p.add_(0.1 * torch.randn_like(p))
        else:
            p.normal_(0.0, 0.15)
model.save_pretrained(out)
logits, gens = [], []
with torch.no_grad():
    for seq in SEQUENCES:
        logits.append(model(input_ids=torch.tensor([seq])).logits[0].float())
    for p in GEN_PROMPTS:
        ids = torch.tensor([p])
        g = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=GEN_NEW_TOKENS,
                           min_new_tokens=GEN_NEW_TOKENS, eos_token_id=None, pad_token_id=0)
        gens.append(g[0, len(p):].tolist())
flat = torch.cat(logits, 0)
print(json.dumps({
    "transformers": transformers.__version__, "model_type": cfg.model_type, "sequences": SEQUENCES,
    "vocab_size": cfg.vocab_size, "logits": flat.flatten().tolist(),
    "params": sorted(n for n, _ in model.state_dict().items()),
    "greedy": {"prompts": GEN_PROMPTS, "new_tokens": GEN_NEW_TOKENS, "outputs": gens},
}))
