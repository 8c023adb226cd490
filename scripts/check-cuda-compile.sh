#!/usr/bin/env bash
# Compile check of the CUDA kernels for sm_90, runnable where nothing can run them (CI).
# Compiles every native/cuda/*.cu with nvcc (-std=c++17 -arch=sm_90, raw CUDA only: the .cu files
# include no ATen), and, when python3's torch headers are found, syntax-checks the CUDA-only
# at::Tensor glue (native/addon.cpp, cuda/kernels.cpp, dispatch.cpp, kernel_hooks.cpp) and the CUDA decode
# step with its graphs (native/generate/decode_step.cpp, engine.cpp) with GTR_WITH_CUDA defined. Exits 0 with a notice when nvcc is absent (NVCC=/path overrides), non-zero on any error.
# Usage: bash scripts/check-cuda-compile.sh [-v]   (-v prints ptxas register / spill reports)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
NVCC="${NVCC:-$(command -v nvcc || true)}"
if [[ -z "$NVCC" && -x /usr/local/cuda/bin/nvcc ]]; then NVCC=/usr/local/cuda/bin/nvcc; fi
if [[ -z "$NVCC" ]]; then echo "check-cuda-compile: nvcc not found; skipped"; exit 0; fi
verbose=()
[[ "${1:-}" == "-v" ]] && verbose=(-Xptxas -v)
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail=0
shopt -s nullglob
for f in "$root"/native/cuda/*.cu; do
  name="$(basename "$f" .cu)"
  if "$NVCC" -std=c++17 -arch=sm_90 -O3 --expt-relaxed-constexpr -lineinfo -Werror all-warnings \
      "${verbose[@]}" -I"$root/native" -c "$f" -o "$tmp/$name.o"; then
    echo "ok   $name.cu (sm_90)"
  else
    echo "FAIL $name.cu"; fail=1
  fi
done
# The at::Tensor glue, when a C++ compiler and torch headers are at hand.
CXX="${CXX:-$(command -v g++ || command -v c++ || true)}"
inc="$(python3 -c 'import torch.utils.cpp_extension as c; print(" ".join(c.include_paths()))' 2>/dev/null || true)"
if [[ -n "$CXX" && -n "$inc" ]]; then
  cudainc="$(dirname "$(dirname "$(readlink -f "$NVCC")")")/include"
  [[ -f "$cudainc/cuda_runtime_api.h" ]] || cudainc="${CUDA_HOME:-/usr/local/cuda}/include"
  # CPU torch wheels ship c10/cuda headers without the generated cmake-macros header: stub it.
  mkdir -p "$tmp/stub/c10/cuda/impl"
  printf '#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n' > "$tmp/stub/c10/cuda/impl/cuda_cmake_macros.h"
  napi=()
  [[ -d "$root/node_modules/node-addon-api" ]] && napi+=(-I"$root/node_modules/node-addon-api")
  [[ -d "$root/node_modules/node-api-headers/include" ]] && napi+=(-I"$root/node_modules/node-api-headers/include")
  for f in addon.cpp cuda/kernels.cpp cuda/dispatch.cpp cuda/kernel_hooks.cpp generate/decode_step.cpp generate/engine.cpp; do
    [[ ( "$f" == cuda/kernel_hooks.cpp || "$f" == addon.cpp ) && ${#napi[@]} -eq 0 ]] && continue
    incs=()
    for d in $inc; do incs+=(-I"$d"); done
    if "$CXX" -std=c++17 -fsyntax-only -w -DNAPI_VERSION=8 -DGTR_WITH_CUDA=1 "${napi[@]}" -I"$root/native" \
        "${incs[@]}" -I"$tmp/stub" -I"$cudainc" "$root/native/$f"; then
      echo "ok   $f (GTR_WITH_CUDA syntax)"
    else
      echo "FAIL $f"; fail=1
    fi
  done
else
  echo "check-cuda-compile: no C++ compiler or torch headers; glue not checked"
fi
exit $fail
