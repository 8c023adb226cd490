#!/usr/bin/env bash
# One-command set-up on a fresh machine: torch (if missing), npm packages, the native addon, the TS build.
# On a GPU box with a CUDA torch already installed, that torch is used and the addon builds with CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ -z "${LIBTORCH:-}" ] && [ -z "${Torch_DIR:-}" ]; then
  if ! "$PY" -c 'import torch' 2>/dev/null; then
    echo "setup: no torch found for $PY; installing torch==2.13.0"
    "$PY" -m pip install --quiet "torch==${GTR_TORCH_VERSION:-2.13.0}"
  fi
fi
# A CUDA torch from pip ships no compiler: the CUDA kernels need the nvcc of torch's CUDA release,
# also from pip (README "GPU set-up"), unless a CUDA compiler is already chosen or on PATH.
if [ -z "${LIBTORCH:-}" ] && [ -z "${Torch_DIR:-}" ] && [ "${GTR_WITH_CUDA:-1}" != 0 ] && [ -z "${CUDACXX:-}" ] &&
  ! command -v nvcc >/dev/null 2>&1 && ! "$PY" scripts/torch-cuda-deps.py 2>/dev/null | grep -q '^nvcc='; then
  nvcc_req="$("$PY" scripts/torch-cuda-deps.py --nvcc-requirement 2>/dev/null || true)"
  if [ -n "$nvcc_req" ]; then
    echo "setup: CUDA torch without nvcc; installing $nvcc_req (the CUDA compiler of torch's release)"
    "$PY" -m pip install --quiet "$nvcc_req" \
      || echo "setup: WARNING: could not install $nvcc_req; the build will say how to get nvcc (or set GTR_WITH_CUDA=0)" >&2
  fi
fi
# The math_verify grader (src/grading/python-pool.ts) runs Hugging Face's math-verify in Python
# workers. Optional: without it only that grader (and its tests) is unavailable.
if ! "$PY" -c 'import math_verify' 2>/dev/null; then
  echo "setup: installing math-verify==0.9.0 for the math_verify grader"
  "$PY" -m pip install --quiet "math-verify==0.9.0" \
    || echo "setup: WARNING: could not install math-verify; the math_verify grader will be unavailable" >&2
fi
# scipy for the statistics cross-checks of the transition experiment (test/transition-stats.test.ts
# compares src/transition/stats.ts with scipy.stats). Optional: without it those checks skip.
if ! "$PY" -c 'import scipy' 2>/dev/null; then
  echo "setup: installing scipy==1.17.1 for the statistics cross-checks"
  "$PY" -m pip install --quiet "scipy==1.17.1" \
    || echo "setup: WARNING: could not install scipy; the scipy cross-checks will skip" >&2
fi
# clang-format 18 for native/ (npm run format; test/format.test.ts checks the sources with it),
# pinned as a pip wheel so every machine formats alike. Optional: without it that check skips.
if ! "$PY" -c 'import clang_format' 2>/dev/null; then
  echo "setup: installing clang-format==18.1.8 (pip) for npm run format"
  "$PY" -m pip install --quiet "clang-format==18.1.8" \
    || echo "setup: WARNING: could not install clang-format; the native formatting check will skip" >&2
fi
# ccache makes re-builds of the addon (a fresh clone, another worktree, a changed header) take
# seconds per unchanged file instead of a cold compile; CMakeLists.txt uses it whenever it is on
# PATH. Installed here when apt is usable (root, Debian/Ubuntu); otherwise the build goes on without.
if ! command -v ccache >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "setup: installing ccache (compiler cache for the native addon)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ccache >/dev/null; } \
    || echo "setup: could not install ccache; the addon builds without a compiler cache"
fi
command -v ccache >/dev/null 2>&1 && echo "setup: ccache $(ccache --version | head -1 | awk '{print $3}') caches the addon's compile"
# The CPU backend of data-parallel training (`gtr train --nproc-per-node N`): gloo from Debian's
# libgloo-dev, linked by the addon's small gtr_gloo.so. Optional: without it the addon builds and
# multi-rank CPU runs say how to install it. Installed here when apt is usable (root, Debian/Ubuntu).
if [ ! -e /usr/include/gloo/allreduce.h ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "setup: installing libgloo-dev (CPU collectives for data-parallel training)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libgloo-dev >/dev/null; } \
    || echo "setup: could not install libgloo-dev; multi-rank CPU training and its tests will be unavailable"
fi
# `npm install` (not `npm ci`): npm 11 prunes other platforms' optional packages from the lockfile,
# which makes `npm ci` refuse it; with exact pins and the lockfile, install resolves the same tree.
GTR_SKIP_NATIVE_INSTALL=1 npm install --no-audit --no-fund   # the addon is built just below
node scripts/build-native.mjs
npx tsc -p tsconfig.json
echo "setup: done. Try: node bin/gtr.js inspect"
