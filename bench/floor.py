# Hardware floors for the GTR-RL benchmarks on the lent GPU (run by bench/gpu.sh).
# Measures the two ceilings the way the peer script does (a 1 GiB-element bf16 device-to-device
# copy, counting bytes read + written; an 8192^3 bf16 matmul on random data; medians over CUDA
# events), then derives, for the Qwen3-1.7B shape:
#   generation (prompt P, N new tokens, batch B): prefill FLOPs / matmul rate + sum over decode
#     steps of max(bytes / copy bandwidth, FLOPs / matmul rate), bytes = bf16 weights (embedding
#     counted once, as the tied lm_head) + the KV cache read at that step;
#   training step (8 x 2048 tokens): 6 * params * tokens / matmul rate (the MFU convention) and the
#     same with the recompute of activation checkpointing (8 * params * tokens) plus causal attention.
# Writes JSON to $OUT/floor.json (or argv[1]) and prints it.
import json, os, sys
import torch

dev = "cuda"
torch.manual_seed(0)

def timed(fn, reps=10, warm=3):
    for _ in range(warm): fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
        s.record(); fn(); e.record(); torch.cuda.synchronize(); ts.append(s.elapsed_time(e))
    ts.sort(); return ts[len(ts) // 2] / 1e3

res = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
a = torch.randn(2**30 // 2, device=dev, dtype=torch.bfloat16); b = torch.empty_like(a)
t = timed(lambda: b.copy_(a)); res["copy_GBps"] = 2 * a.numel() * 2 / t / 1e9
del a, b
x = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16); y = torch.randn_like(x)
t = timed(lambda: x @ y); res["bf16_matmul_TFLOPs"] = 2 * 8192**3 / t / 1e12
del x, y
torch.cuda.empty_cache()

# Qwen3-1.7B
V, H, I, L, Hq, Hk, D = 151936, 2048, 6144, 28, 16, 8, 128
per_layer = H * Hq * D + 2 * H * Hk * D + Hq * D * H + 3 * H * I + 2 * H + 2 * D
params = V * H + L * per_layer + H
res["params"] = params
BW = res["copy_GBps"] * 1e9
FL = res["bf16_matmul_TFLOPs"] * 1e12
kv_bytes_per_pos = L * 2 * Hk * D * 2  # K and V, bf16, all layers

def gen_floor(B, P, N):
    nonembed = params - V * H
    t = 2 * (nonembed + V * H) * B * P / FL            # prefill matmuls (lm_head on all rows: upper bound)
    t += 4 * L * Hq * D * B * P * P / 2 / FL           # causal prefill attention
    bytes_total = 0.0
    for step in range(N - 1):                          # decode steps after the prefill's token
        ctx = P + step + 1
        by = 2 * params + B * ctx * kv_bytes_per_pos
        fl = 2 * params * B + 4 * L * Hq * D * B * ctx
        t += max(by / BW, fl / FL)
        bytes_total += by
    return {"floor_s": t, "floor_tok_per_s": B * N / t, "decode_bytes": bytes_total}

for B in (64, 256):
    res[f"gen_bs{B}_p256_n512"] = gen_floor(B, 256, 512)

tok, T = 8 * 2048, 2048
attn = 3 * 4 * L * Hq * D * 8 * T * T / 2               # causal attention fwd + bwd
res["train_8x2048"] = {
    "tokens": tok,
    "mfu_flops": 6 * params * tok,
    "floor_s_6N": 6 * params * tok / FL,
    "floor_s_with_recompute_and_attn": (8 * params * tok + attn * 4 / 3) / FL,
}
res["train_8x2048"]["floor_tok_per_s_6N"] = tok / res["train_8x2048"]["floor_s_6N"]
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.environ.get("OUT", "/tmp"), "floor.json")
json.dump(res, open(out, "w"), indent=1)
print(json.dumps(res, indent=1))
