#!/usr/bin/env bash
# The CUDA build of the addon, proven on a machine without a GPU (CI runs it on every submission).
#
#   bash scripts/check-cuda-build.sh        # prints one line per check; exit 1 when any failed
#
# 1. env      a cached virtual environment (GTR_CUDA_CACHE, default ~/.cache/gtr-cuda) with the CUDA
#             torch==2.13.0 wheel from PyPI, its NVIDIA dependencies (cudart, cuBLAS, NCCL, ...) and
#             the nvcc of the same CUDA release (cuda-toolkit[nvcc,cccl] at the version torch pins).
#             The machine's pip config may point at a local CPU wheel: PyPI is asked on purpose
#             (no pip config, https://pypi.org/simple). Wheels are kept in the cache: a fresh
#             machine downloads ~2.7 GB once, later runs reuse the environment as is.
# 2. build    the whole addon with CUDA (every native/cuda/*.cu, the glue, CUDA graphs, NCCL) in
#             its own tree (GTR_CUDA_BUILD_DIR, default build/cuda; ccache), with nvcc from pip.
# 3. objects  every .cu compiled for sm_90, and the CUDA-only glue (decode step with CUDA graphs,
#             the NCCL process group) in the addon.
# 4. load     `require` of the CUDA addon in Node: cudaCompiled, ncclCompiled, no device.
# 5. inspect  `gtr inspect --json` with that addon: a CUDA build, devices = cpu only.
# 6. cpu-smoke  `gtr demo --fast` with that addon on CPU: generates, trains (SFT + GTR), evaluates.
# Results also go to GTR_CUDA_RESULT (default .ci-out/cuda-build.json), which CI's vitest run reads
# (test/cuda-build.test.ts), so a failed check fails CI's "N passed, N failed" line.
# Needs python3 (venv), cmake, ninja or make, g++, node, and the repo's node_modules and dist/.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
TORCH_VERSION="${GTR_CUDA_TORCH_VERSION:-2.13.0}"
CACHE="${GTR_CUDA_CACHE:-$HOME/.cache/gtr-cuda}"
WHEELS="$CACHE/wheels"
VENV="$CACHE/venv-torch-$TORCH_VERSION"
BUILD="${GTR_CUDA_BUILD_DIR:-$root/build/cuda}"
RESULT="${GTR_CUDA_RESULT:-$root/.ci-out/cuda-build.json}"
INDEX="${GTR_CUDA_INDEX_URL:-https://pypi.org/simple}"
NICE=(nice -n "${GTR_CUDA_NICE:-10}")
mkdir -p "$(dirname "$RESULT")" "$CACHE"
LOG="$(dirname "$RESULT")/cuda-build.log"
: > "$LOG"
results=()
failed=0
t0=$(date +%s)

# record NAME OK SECONDS DETAIL
record() {
  local name="$1" ok="$2" secs="$3" detail="$4"
  if [[ "$ok" == 1 ]]; then printf 'ok   %-9s (%ss) %s\n' "$name" "$secs" "$detail"; else
    printf 'FAIL %-9s (%ss) %s\n' "$name" "$secs" "$detail"; failed=1; fi
  # through the environment: `node -e ... inspect` would start Node's debugger (`node inspect`)
  results+=("$(C_NAME="$name" C_OK="$ok" C_SECS="$secs" C_DETAIL="$detail" node -e '
    const e = process.env;
    console.log(JSON.stringify({ name: e.C_NAME, ok: e.C_OK === "1", seconds: Number(e.C_SECS), detail: e.C_DETAIL }));')")
}
finish() {
  local total=$(( $(date +%s) - t0 ))
  printf '%s\n' "${results[@]}" | node -e '
    const lines = require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean);
    const checks = lines.map((l) => JSON.parse(l));
    const r = { torch: process.argv[2], totalSeconds: Number(process.argv[3]), checks };
    require("fs").writeFileSync(process.argv[1], JSON.stringify(r, null, 1) + "\n");' "$RESULT" "$TORCH_VERSION" "$total" ||
    { echo "check-cuda-build: could not write $RESULT"; failed=1; }
  echo "check-cuda-build: $([[ $failed == 0 ]] && echo "all checks passed" || echo "FAILED") in ${total}s (log: $LOG, results: $RESULT)"
  exit $failed
}
# pip against PyPI itself: no pip.conf (constraints, find-links to a local CPU wheel), no PIP_* index env.
pypi() {
  env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PIP_CONSTRAINT -u PIP_NO_INDEX \
    -u PIP_REQUIREMENT PIP_CONFIG_FILE=/dev/null "$@"
}
# Downloads (into the wheel cache, reused) and installs REQS into the venv from that cache.
fetch_install() {
  pypi "$VENV/bin/python" -m pip download --quiet --progress-bar off --only-binary=:all: \
    --index-url "$INDEX" --find-links "$WHEELS" -d "$WHEELS" "$@" >> "$LOG" 2>&1 &&
    pypi "$VENV/bin/python" -m pip install --quiet --progress-bar off --no-index --find-links "$WHEELS" "$@" >> "$LOG" 2>&1
}

# ---- 1. env (one run at a time prepares a cache: two CI jobs on one machine wait for each other)
s=$(date +%s)
spec="torch==$TORCH_VERSION"
exec 9> "$CACHE/.lock"
flock 9
if [[ -f "$VENV/.gtr-ready" && "$(head -1 "$VENV/.gtr-ready")" == "$spec" ]]; then
  record env 1 $(( $(date +%s) - s )) "cached $VENV ($(sed -n 2p "$VENV/.gtr-ready"))"
else
  echo "check-cuda-build: preparing $VENV (CUDA torch and nvcc from $INDEX; ~2.7 GB the first time)"
  rm -rf "$VENV" && mkdir -p "$WHEELS"
  ok=0
  if "${NICE[@]}" python3 -m venv "$VENV" >> "$LOG" 2>&1 && "${NICE[@]}" bash -c "$(declare -f pypi fetch_install); VENV='$VENV' WHEELS='$WHEELS' INDEX='$INDEX' LOG='$LOG' fetch_install '$spec'"; then
    # The nvcc of the CUDA release torch pins: cuda-toolkit[nvcc,cccl]==<torch's cuda-toolkit pin>,
    # or, for a torch that lists nvidia-*-cuXY packages, nvidia-cuda-nvcc-cuXY of torch.version.cuda.
    nvcc_req="$("$VENV/bin/python" "$root/scripts/torch-cuda-deps.py" --nvcc-requirement 2>>"$LOG")"
    if [[ -n "$nvcc_req" ]] && "${NICE[@]}" bash -c "$(declare -f pypi fetch_install); VENV='$VENV' WHEELS='$WHEELS' INDEX='$INDEX' LOG='$LOG' fetch_install '$nvcc_req'"; then
      cuda="$("$VENV/bin/python" -W ignore -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)' 2>>"$LOG")"
      # Written last: an environment without it (an interrupted install) is made again.
      printf '%s\n%s, %s\n' "$spec" "$cuda" "$nvcc_req" > "$VENV/.gtr-ready" && ok=1
    fi
  fi
  if [[ $ok == 1 ]]; then
    record env 1 $(( $(date +%s) - s )) "installed $(sed -n 2p "$VENV/.gtr-ready")"
  else
    record env 0 $(( $(date +%s) - s )) "could not install the CUDA torch or nvcc from $INDEX (see $LOG)"
    finish
  fi
fi
flock -u 9
PY="$VENV/bin/python"
nvcc_v="$("$PY" "$root/scripts/torch-cuda-deps.py" 2>>"$LOG" | sed -n 's/^nvcc=//p')"

# ---- 2. build
s=$(date +%s)
if PYTHON="$PY" GTR_BUILD_DIR="$BUILD" "${NICE[@]}" node scripts/build-native.mjs >> "$LOG" 2>&1; then
  build_s=$(( $(date +%s) - s ))
  record build 1 "$build_s" "$BUILD/Release/gtr_native.node with $("$nvcc_v" --version 2>/dev/null | grep -o 'release [0-9.]*' || echo nvcc)"
else
  build_s=$(( $(date +%s) - s ))
  grep -E "error|Error" "$LOG" | grep -v "^--" | head -20
  record build 0 "$build_s" "the CUDA build failed (errors above; full log $LOG)"
  finish
fi
echo "check-cuda-build: CUDA build took ${build_s}s"
node="$BUILD/Release/gtr_native.node"

# ---- 3. objects: every .cu, the CUDA graphs of the decode step, NCCL
s=$(date +%s)
missing=()
for f in native/cuda/*.cu native/generate/decode_step.cpp native/parallel/process_group.cpp native/cuda/kernels.cpp; do
  [[ -f "$BUILD/CMakeFiles/gtr_native.dir/$f.o" ]] || missing+=("$f")
done
syms="$(nm -C -D --defined-only "$node" 2>/dev/null; nm -C -D --undefined-only "$node" 2>/dev/null)"
for sym in "gtr::cuda::raw::decode_attention" "gtr::cuda::raw::sample_tokens" "c10d::ProcessGroupNCCL::ProcessGroupNCCL" \
  "at::cuda::CUDAGraph::capture_begin" "at::cuda::CUDAGraph::replay" "cudaStreamEndCapture"; do
  grep -q "$sym" <<< "$syms" || missing+=("symbol $sym")
done
if [[ ${#missing[@]} == 0 ]]; then
  record objects 1 $(( $(date +%s) - s )) "$(ls native/cuda/*.cu | wc -l) .cu for sm_90, CUDA graphs, NCCL process group"
else
  record objects 0 $(( $(date +%s) - s )) "missing: ${missing[*]}"
fi

# ---- 4. load
s=$(date +%s)
v="$(node -e '
const v = require(process.argv[1]).versions();
console.log(JSON.stringify(v));
process.exit(v.cudaCompiled && v.ncclCompiled && v.cudaDeviceCount === 0 ? 0 : 1);' "$node" 2>&1)"
if [[ $? == 0 ]]; then record load 1 $(( $(date +%s) - s )) "require ok: $v"; else
  record load 0 $(( $(date +%s) - s )) "$v"; finish; fi

# ---- 5. inspect
s=$(date +%s)
[[ -f dist/cli/main.js ]] || npx tsc -p tsconfig.json >> "$LOG" 2>&1
out="$(GTR_NATIVE_PATH="$node" node bin/gtr.js inspect --json 2>&1)"
if node -e '
const i = JSON.parse(process.argv[1]);
process.exit(i.cudaCompiled === true && i.cudaAvailable === false && i.devices.length === 1 && i.devices[0] === "cpu" ? 0 : 1);' "$out" 2>/dev/null; then
  record inspect 1 $(( $(date +%s) - s )) "gtr inspect: cudaCompiled true, cudaAvailable false, devices cpu"
else
  record inspect 0 $(( $(date +%s) - s )) "gtr inspect --json gave: $(tr '\n' ' ' <<< "$out" | head -c 600)"
fi

# ---- 6. CPU smoke with the CUDA build
s=$(date +%s)
tmp="$(mktemp -d)"
if GTR_NATIVE_PATH="$node" "${NICE[@]}" node bin/gtr.js demo --fast --steps 1 --sft-steps 2 --out "$tmp/demo" >> "$LOG" 2>&1 &&
  [[ -f "$tmp/demo/gtr/metrics.jsonl" || -n "$(find "$tmp/demo" -name metrics.jsonl -print -quit)" ]]; then
  record cpu-smoke 1 $(( $(date +%s) - s )) "gtr demo --fast on CPU with the CUDA addon: generated, trained (SFT + 1 GTR step), evaluated"
else
  tail -15 "$LOG"
  record cpu-smoke 0 $(( $(date +%s) - s )) "gtr demo --fast with the CUDA addon failed (log $LOG)"
fi
rm -rf "$tmp"
finish
