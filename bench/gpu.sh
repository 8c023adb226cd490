#!/usr/bin/env bash
# GTR-RL on the lent GPU, in one device call: unpack the carried node binary (and trimmed
# node_modules), build the addon against that machine's torch with CUDA (sm_90, GTR_WITH_CUDA),
# run the GPU tests, then the benchmarks beside the Hugging Face peer and the hardware floor, and
# write JSON + a final table. See bench/README.md. Usage (on the device, from the repo root):
#   bash bench/gpu.sh                       # everything
#   GTR_BENCH_PHASES=build,tests bash bench/gpu.sh
# Phases: build, tests, kernels, floor, generate, train, step, weight_sync, generate_eager, recipe_generate,
#   recipe_train, peer, peer_compiled, shard (train.sharding on one GPU: Qwen3-1.7B step time and
#   peak memory of none / optimizer / full at world size 1, bench/shard-memory.ts; not in the default
#   list: GTR_BENCH_PHASES=build,shard bash bench/gpu.sh, ~2 min after the build)
# (generate_eager: bs 256 with GTR_CUDA_GRAPHS=0; the last is off by default: ~3 min of compiling). Output: $OUT (device tool) or bench/results/out/:
# results-<date>-<device>.json, tests.log, bench.log, build.log. Needs python3 with a CUDA torch,
# cmake, ninja, and nvcc (a system toolkit, or pip's cuda-toolkit[nvcc,cccl] beside torch: CMake finds
# it and torch's NVIDIA packages from torch's metadata, native/cuda/pip_cuda.cmake); Node from PATH
# or .node/node.xz. What a call carries (.node, dist): `bash bench/prepare-gpu.sh`.
# First call on a lent GPU (build + GPU tests, within 300 s): GTR_BENCH_FIRST=1 bash bench/gpu.sh
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
OUTDIR="${OUT:-$ROOT/bench/results/out}"
mkdir -p "$OUTDIR"
WORK="$(mktemp -d /tmp/gtr-bench.XXXX)"
export GTR_BENCH_OUT="$WORK"
# GTR_BENCH_FIRST=1: the first call a lent GPU gets: build, then the GPU tests alone, in 300 s.
if [[ "${GTR_BENCH_FIRST:-}" == 1 ]]; then
  : "${GTR_BENCH_PHASES:=build,tests}" "${GTR_BENCH_BUDGET_S:=290}"
fi
PHASES="${GTR_BENCH_PHASES:-build,tests,kernels,floor,generate,train,step,weight_sync,recipe_generate,recipe_train,peer}"
has() { [[ ",$PHASES," == *",$1,"* ]]; }
DATE="${GTR_BENCH_DATE:-$(date -u +%F)}"
t_start=$(date +%s)
stamp() { echo "[gpu.sh +$(( $(date +%s) - t_start ))s] $*"; }
# Whole-run budget (the device tool kills a command at 600 s): a phase starts only when at least
# its estimate is left, and runs under `timeout` for the time that is left.
BUDGET="${GTR_BENCH_BUDGET_S:-570}"
left() { echo $(( BUDGET - ($(date +%s) - t_start) )); }
fits() { local need="$1" name="$2"; if (( $(left) < need )); then stamp "skip $name: $(left)s left, needs ~${need}s"; return 1; fi; }
report() { python3 bench/report.py "$WORK" "$OUTDIR/$RESULT" --date "$DATE" --device "$DEVICE_NAME" > "$WORK/report.txt" 2>&1 || true; }
export PYTHONUNBUFFERED=1

# ---- node + node_modules (the device has no Node and no network)
if ! command -v node >/dev/null 2>&1; then
  if [[ -f .node/node.xz ]]; then
    mkdir -p /tmp/gtr-node/bin
    python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open('.node/node.xz'), open('/tmp/gtr-node/bin/node','wb'))"
    chmod +x /tmp/gtr-node/bin/node
    export PATH="/tmp/gtr-node/bin:$PATH"
  else
    echo "gpu.sh: no node on PATH and no .node/node.xz to unpack" >&2; exit 2
  fi
fi
if [[ ! -d node_modules/vitest && -f .node/node_modules.tar.xz ]]; then
  python3 -c "import tarfile; tarfile.open('.node/node_modules.tar.xz').extractall('.')"
fi
stamp "node $(node --version); torch $(python3 -c 'import torch;print(torch.__version__, torch.version.cuda)')"
DEVICE_NAME="$(python3 -c 'import torch;print(torch.cuda.get_device_name(0))' 2>/dev/null || echo unknown)"
DEVICE_SLUG="$(echo "$DEVICE_NAME" | tr 'A-Z' 'a-z' | sed -E 's/nvidia //; s/[^a-z0-9]+/-/g; s/^-|-$//g')"
stamp "device: $DEVICE_NAME"
RESULT="results-$DATE-$DEVICE_SLUG${GTR_BENCH_TAG:+-$GTR_BENCH_TAG}.json"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv 2>/dev/null | tee "$WORK/nvidia-smi.txt"

# ---- build the addon with CUDA (cmake directly: no cmake-js needed)
if has build; then
  TORCH_PREFIX="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')"
  export TORCH_CUDA_ARCH_LIST="9.0"
  stamp "configure + build"
  {
    cmake -S . -B build/gpu -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" -DGTR_TORCH_HAS_CUDA=ON -DGTR_WITH_CUDA=ON -DGTR_PYTHON=python3 \
      -DCMAKE_CUDA_ARCHITECTURES=90 \
      -DCMAKE_JS_INC="$ROOT/node_modules/node-api-headers/include;$ROOT/node_modules/node-addon-api" \
      -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$ROOT/build/Release" &&
    cmake --build build/gpu -j "$(nproc)"
  } > "$OUTDIR/build.log" 2>&1
  rc=$?
  if [[ $rc -ne 0 ]]; then
    # Second chance without the CUDA-graph code of the rollout engine (native/generate/decode_step.cpp).
    grep -E "error" "$OUTDIR/build.log" | head -20
    stamp "BUILD FAILED; retrying with -DGTR_NO_CUDA_GRAPHS"
    cmake -S . -B build/gpu -DCMAKE_CXX_FLAGS=-DGTR_NO_CUDA_GRAPHS >> "$OUTDIR/build.log" 2>&1 &&
      cmake --build build/gpu -j "$(nproc)" >> "$OUTDIR/build.log" 2>&1
    rc=$?
  fi
  if [[ $rc -ne 0 ]]; then tail -60 "$OUTDIR/build.log"; stamp "BUILD FAILED"; exit 3; fi
  grep -E "warning" "$OUTDIR/build.log" | grep -v "^--" | head -5
  stamp "built $(ls -la build/Release/gtr_native.node | awk '{print $5}') bytes"
fi
node --input-type=module -e "
import { createRequire } from 'node:module'; const r = createRequire(import.meta.url);
const a = r('$ROOT/build/Release/gtr_native.node'); console.log(JSON.stringify(a.versions()));" | tee "$WORK/versions.json"

# ---- GPU tests (all test/gpu-*.test.ts)
if has tests && fits 60 tests; then
  stamp "GPU tests"
  tests=(test/gpu-*.test.ts)
  [[ -n "${GTR_BENCH_TESTS:-}" ]] && tests=(${GTR_BENCH_TESTS})
  timeout $(( $(left) - 10 )) node node_modules/vitest/vitest.mjs run "${tests[@]}" --reporter=verbose > "$OUTDIR/tests.log" 2>&1
  echo "tests_rc=$?" >> "$OUTDIR/tests.log"
  grep -E "✓|×|✗|FAIL|Test Files|Tests |tests_rc|\[model\]" "$OUTDIR/tests.log" | tail -80
  grep -E "^\[kernel\]|\[model\]" "$OUTDIR/tests.log" > "$WORK/kernel-errors.txt" || true
fi

# ---- kernel micro-benchmarks (kernel vs libtorch reference, same run)
if has kernels && fits 40 kernels; then
  stamp "kernel benchmarks"
  cat > "$WORK/kbench.mjs" <<'JS'
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
const a = createRequire(import.meta.url)(process.argv[2]);
const cases = [
  ['decode_attention', { batch: 256, length: 512, capacity: 768 }],
  ['decode_attention', { batch: 64, length: 512, capacity: 768 }],
  ['decode_attention', { batch: 256, length: 256, capacity: 768 }],
  ['rms_norm', { rows: 256, hidden: 2048 }],
  ['rms_norm', { rows: 16384, hidden: 2048 }],
  ['rope', { tokens: 256 }],
  ['rope', { tokens: 16384 }],
  ['swiglu', { rows: 256, inter: 6144 }],
  ['swiglu', { rows: 16384, inter: 6144 }],
  ['sample', { batch: 256 }],
  ['sample', { batch: 256, topK: 50, topP: 0.9 }],
  ['logprob_entropy', { rows: 1024 }],
];
const out = [];
for (const [name, opts] of cases) {
  try {
    const r = a.testing.kernelBench(name, opts);
    out.push({ name, opts, ...r });
    console.log(`${name.padEnd(18)} ${JSON.stringify(opts).padEnd(44)} kernel ${r.kernelMs.toFixed(4)} ms (${r.kernelGBps.toFixed(0)} GB/s)  libtorch ${r.refMs.toFixed(4)} ms  x${(r.refMs / r.kernelMs).toFixed(1)}`);
  } catch (e) { console.log(name, 'FAILED', e.message); out.push({ name, opts, error: e.message }); }
}
writeFileSync(process.argv[3], JSON.stringify(out, null, 1));
JS
  timeout $(( $(left) - 5 )) node "$WORK/kbench.mjs" "$ROOT/build/Release/gtr_native.node" "$WORK/kernels.json" 2>&1 | tee -a "$WORK/bench.log"
  report
fi

if has floor && fits 30 floor; then
  stamp "floor"; timeout $(( $(left) - 5 )) python3 bench/floor.py "$WORK/floor.json" > "$WORK/floor.log" 2>&1 || tail -20 "$WORK/floor.log"
  report
fi

# ---- the project's own benches (written by the rollout / training engineers), when present:
# each is run with GTR_BENCH_OUT=$WORK and `--out $WORK/<name>` (JSON files written there).
run_bench() {
  local stem="$1" need="$2" f
  for f in bench/$stem.mjs bench/$stem.js bench/$stem.ts bench/$stem.sh; do
    [[ -f "$f" ]] || continue
    fits "$need" "$f" || return
    stamp "project bench $f"
    mkdir -p "$WORK/$stem"
    case "$f" in
      *.sh) timeout $(( $(left) - 5 )) bash "$f" --out "$WORK/$stem" ;;
      *.ts) timeout $(( $(left) - 5 )) node node_modules/tsx/dist/cli.mjs "$f" --out "$WORK/$stem" ;;
      *) timeout $(( $(left) - 5 )) node "$f" --out "$WORK/$stem" ;;
    esac > "$WORK/$stem.log" 2>&1
    { echo "==== $f"; cat "$WORK/$stem.log"; } >> "$OUTDIR/bench.log"  # kept even if the call is cut off
    tail -25 "$WORK/$stem.log"
    report
    return
  done
  stamp "no bench/$stem.* yet"
}
has generate && run_bench generate 90
has train && run_bench train 60
# The README's "one GTR step" row: bench/step.ts's defaults (Qwen3-1.7B, 32 prompts x 8, 512 new,
# 2 x 2 mini-batches) through the shipped updatePolicy. Alone: GTR_BENCH_PHASES=build,step bash bench/gpu.sh
has step && run_bench step 90
has shard && run_bench shard-memory 120
# Weight sync trainer -> one rollout worker process for Qwen3-1.7B bf16 (rollout.placement: separate),
# both on this one device, so through gloo (NCCL refuses two ranks on one GPU): bench/weight-sync.ts.
has weight_sync && run_bench weight-sync 120
# The rollout engine at batch 256 with the CUDA kernels but without CUDA graphs (GTR_CUDA_GRAPHS=0).
if has generate_eager && [[ -f bench/generate.ts ]] && fits 60 generate_eager; then
  stamp "generate bs 256 without CUDA graphs"
  mkdir -p "$WORK/generate_eager"
  GTR_CUDA_GRAPHS=0 timeout $(( $(left) - 5 )) node node_modules/tsx/dist/cli.mjs bench/generate.ts --batch 256 \
    --out "$WORK/generate_eager" > "$WORK/generate_eager.log" 2>&1
  { echo "==== generate (GTR_CUDA_GRAPHS=0)"; cat "$WORK/generate_eager.log"; } >> "$OUTDIR/bench.log"
  tail -5 "$WORK/generate_eager.log"
  cp "$WORK"/generate_eager/*.json "$WORK/generate_eager.json" 2>/dev/null || true
  report
fi

# ---- the paper recipe's rollout shape and a two-step paper-recipe run (prepared inputs are carried
# in .device/: recipe-shape.json from `npx tsx bench/recipe-shape.ts --write .device/recipe-shape.json`
# and datasets/dapo-math-17k.jsonl, a slice of the local copy; the device has no datasets).
if has recipe_generate && [[ -f .device/recipe-shape.json ]] && fits 200 recipe_generate; then
  stamp "generate, recipe shape (128 DAPO prompts x 8, 4096 max new, trainer state resident)"
  mkdir -p "$WORK/recipe_generate"
  timeout $(( $(left) - 5 )) node node_modules/tsx/dist/cli.mjs bench/generate.ts --shape recipe \
    --shape-file .device/recipe-shape.json --max-num-seqs "${GTR_BENCH_MAX_NUM_SEQS:-512}" --out "$WORK/recipe_generate" > "$WORK/recipe_generate.log" 2>&1
  { echo "==== generate --shape recipe"; cat "$WORK/recipe_generate.log"; } >> "$OUTDIR/bench.log"
  tail -5 "$WORK/recipe_generate.log"
  cp "$WORK"/recipe_generate/*.json "$WORK/recipe_generate.json" 2>/dev/null || true
  report
fi
if has recipe_train && [[ -f .device/datasets/dapo-math-17k.jsonl ]] && fits 240 recipe_train; then
  stamp "gtr train recipes/qwen3-1.7b-gtr-dapo.yaml, 2 steps on a random Qwen3-1.7B-Base"
  node bin/gtr.js init-model --config qwen3-1.7b-base --seed 0 --dtype bf16 --out "$WORK/qwen3-1.7b-base" > "$WORK/recipe_train.log" 2>&1
  timeout $(( $(left) - 5 )) node bin/gtr.js train recipes/qwen3-1.7b-gtr-dapo.yaml --data-dir .device/datasets \
    --set model.path="$WORK/qwen3-1.7b-base" --set run.dir="$WORK/recipe-run" --set train.steps=2 \
    --set train.prompts_per_step="${GTR_BENCH_RECIPE_PROMPTS:-32}" --set eval.every_steps=0 --set checkpoint.every_steps=0 \
    >> "$WORK/recipe_train.log" 2>&1
  echo "recipe_train_rc=$?" >> "$WORK/recipe_train.log"
  cp "$WORK/recipe-run/metrics.jsonl" "$OUTDIR/recipe-train-metrics.jsonl" 2>/dev/null || true
  { echo "==== recipe train"; cat "$WORK/recipe_train.log"; } >> "$OUTDIR/bench.log"
  tail -8 "$WORK/recipe_train.log"
fi

if has peer && fits 150 peer; then
  stamp "HF peer (eager generate bs 64/256, training step)"
  OUT="$WORK" timeout $(( $(left) - 5 )) python3 bench/hf_peer_baseline.py > "$WORK/peer.log" 2>&1 || tail -30 "$WORK/peer.log"
  grep -E "^(64|256) " "$WORK/peer.log"
  report
fi
if has peer_compiled && fits 300 peer_compiled; then
  stamp "HF peer (static cache + compile)"
  OUT="$WORK" timeout $(( $(left) - 5 )) python3 bench/hf_peer_compiled_generate.py > "$WORK/peer_compiled.log" 2>&1 || tail -30 "$WORK/peer_compiled.log"
  report
fi
# Late tests (GTR_BENCH_LATE_TESTS, e.g. the 1.7B model parity test) after the benches.
if [[ -n "${GTR_BENCH_LATE_TESTS:-}" ]] && fits 120 late-tests; then
  stamp "late tests: $GTR_BENCH_LATE_TESTS"
  timeout $(( $(left) - 10 )) node node_modules/vitest/vitest.mjs run ${GTR_BENCH_LATE_TESTS} --reporter=verbose > "$OUTDIR/tests-late.log" 2>&1
  echo "tests_rc=$?" >> "$OUTDIR/tests-late.log"
  grep -E "✓|×|FAIL|Tests |tests_rc|\[model\]" "$OUTDIR/tests-late.log" | tail -20
fi

# ---- combine, table, results file
python3 bench/report.py "$WORK" "$OUTDIR/$RESULT" --date "$DATE" --device "$DEVICE_NAME"
cat "$WORK"/floor.log "$WORK"/peer*.log >> "$OUTDIR/bench.log" 2>/dev/null || true
cp "$WORK/kernel-errors.txt" "$OUTDIR/" 2>/dev/null || true
mkdir -p bench/results && cp "$OUTDIR/$RESULT" bench/results/ 2>/dev/null || true
stamp "done: $OUTDIR/$RESULT"
