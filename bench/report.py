# Combines the JSON files a bench/gpu.sh run wrote into one dated results file and prints the
# final table: each measurement beside the Hugging Face peer timed in the same run and the
# hardware floor (bench/floor.py). Usage: python3 bench/report.py WORK_DIR OUT_JSON --date D --device NAME
# Project benches (bench/generate.*, bench/train.*, bench/step.*) write WORK_DIR/<name>.json; keys
# read here (others are kept verbatim): generate.json {"bs64": {"tok_per_s": ..}, "bs256": {...}}
# or flat "gen_bs64_tok_per_s"; train.json {"tok_per_s", "mfu", "peak_mem_GiB", "step_s"};
# step.json {"phases": {name: seconds}, "total_s"}.
import argparse, glob, json, os

ap = argparse.ArgumentParser()
ap.add_argument("work"); ap.add_argument("out")
ap.add_argument("--date", required=True); ap.add_argument("--device", required=True)
a = ap.parse_args()

res = {"date": a.date, "device": a.device}
for f in sorted(glob.glob(os.path.join(a.work, "*.json"))):
    try:
        res[os.path.basename(f)[:-5]] = json.load(open(f))
    except Exception as e:  # a partial file from a killed phase
        res[os.path.basename(f)[:-5]] = {"error": str(e)}
# project benches write into WORK/<name>/ (e.g. generate-<config>-<device>-<time>.json)
for d in ("generate", "train", "step"):
    files = sorted(glob.glob(os.path.join(a.work, d, "*.json")))
    if files:
        try:
            res[d] = json.load(open(files[-1]))
        except Exception as e:
            res[d] = {"error": str(e)}
for f in ("kernel-errors.txt", "nvidia-smi.txt"):
    p = os.path.join(a.work, f)
    if os.path.exists(p):
        res[f.split(".")[0].replace("-", "_")] = open(p).read().splitlines()

floor = res.get("floor", {})
peer = res.get("hf_baseline", {})
gen = res.get("generate", {})
train = res.get("train", {})
if isinstance(train.get("results"), list) and train["results"]:
    t0 = train["results"][-1]
    train = {"tok_per_s": t0.get("tokensPerS", t0.get("tok_per_s")), "mfu": t0.get("mfu"),
             "peak_mem_GiB": t0.get("peakMemGiB", t0.get("peak_mem_GiB")), "step_s": t0.get("stepS")}

def gen_ours(bs):
    for r in gen.get("results", []) if isinstance(gen.get("results"), list) else []:
        if r.get("batch") == bs and r.get("promptLen", 256) == 256 and r.get("newTokens", 512) == 512:
            return r.get("tokensPerS")
    if isinstance(gen.get(f"bs{bs}"), dict):
        return gen[f"bs{bs}"].get("tok_per_s")
    for k in (f"gen_bs{bs}_tok_per_s", f"bs{bs}_tok_per_s", f"generate_bs{bs}_tok_per_s"):
        if k in gen: return gen[k]
    return None

rows = []
def row(name, ours, peer_v, floor_v, unit):
    rows.append((name, ours, peer_v, floor_v, unit))

for bs in (64, 256):
    fl = floor.get(f"gen_bs{bs}_p256_n512", {}).get("floor_tok_per_s")
    row(f"generate bs{bs} p256 n512", gen_ours(bs), peer.get(f"hf_generate_bs{bs}_p256_n512_tok_per_s"), fl, "tok/s")
tf = floor.get("train_8x2048", {})
row("train 8x2048 tok/s", train.get("tok_per_s"), peer.get("hf_train_tok_per_s"), tf.get("floor_tok_per_s_6N"), "tok/s")
row("train MFU", train.get("mfu"), peer.get("hf_train_mfu_vs_measured_peak"), 1.0, "")
row("train peak mem", train.get("peak_mem_GiB"), peer.get("hf_train_peak_mem_GiB"), None, "GiB")
res["table"] = [dict(zip(("metric", "ours", "peer", "floor", "unit"), r)) for r in rows]
json.dump(res, open(a.out, "w"), indent=1)

def fmt(v):
    if v is None: return "-"
    if isinstance(v, float) and v < 10: return f"{v:.3f}"
    return f"{v:,.0f}"
print()
print(f"GTR-RL GPU bench, {a.date}, {a.device}; copy {fmt(floor.get('copy_GBps'))} GB/s, bf16 matmul {fmt(floor.get('bf16_matmul_TFLOPs'))} TFLOP/s")
for k in res.get("kernels", []):
    if "error" in k:
        print(f"  kernel {k['name']:<18} {json.dumps(k['opts']):<40} ERROR {k['error'][:60]}")
    else:
        print(f"  kernel {k['name']:<18} {json.dumps(k['opts']):<40} {k['kernelMs']*1e3:9.1f} us {k['kernelGBps']:7.0f} GB/s  libtorch x{k['refMs']/k['kernelMs']:.1f}")
print(f"| {'metric':<26} | {'ours':>10} | {'HF peer':>10} | {'floor':>10} | {'ours/peer':>9} | {'ours/floor':>10} |")
print(f"|{'-'*28}|{'-'*12}|{'-'*12}|{'-'*12}|{'-'*11}|{'-'*12}|")
for name, o, p, f, unit in rows:
    rp = f"{o/p:.2f}x" if o and p else "-"
    rf = f"{o/f:.0%}" if o and f else "-"
    print(f"| {name + (' (' + unit + ')' if unit else ''):<26} | {fmt(o):>10} | {fmt(p):>10} | {fmt(f):>10} | {rp:>9} | {rf:>10} |")
step = res.get("step", {})
if isinstance(step, dict) and step.get("phases"):
    print("GTR step phases (s): " + ", ".join(f"{k} {v:.2f}" for k, v in step["phases"].items()))
print(f"results: {a.out}")
