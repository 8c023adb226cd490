#!/usr/bin/env node
// Builds the native addon (build/Release/gtr_native.node) with cmake-js against libtorch.
// libtorch is found, in order: LIBTORCH (a libtorch directory), Torch_DIR (its cmake dir), or the
// `torch` Python package that `python3` (or $PYTHON) imports. CUDA kernels are built when that
// torch has CUDA (torch.version.cuda) and GTR_WITH_CUDA is not 0. Everything is offline: cmake-js 8
// takes Node-API headers from node-api-headers.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const python = process.env.PYTHON ?? 'python3';

function torchInfo() {
  if (process.env.LIBTORCH) {
    const prefix = join(process.env.LIBTORCH, 'share', 'cmake');
    const cuda = existsSync(join(process.env.LIBTORCH, 'lib', 'libtorch_cuda.so'));
    return { prefix, cuda, source: `LIBTORCH=${process.env.LIBTORCH}` };
  }
  if (process.env.Torch_DIR) {
    const cuda = existsSync(join(process.env.Torch_DIR, '..', '..', '..', 'lib', 'libtorch_cuda.so'));
    return { prefix: null, cuda, source: `Torch_DIR=${process.env.Torch_DIR}` };
  }
  let out;
  try {
    out = execFileSync(
      python,
      [
        '-c',
        'import torch, json; print(json.dumps({"prefix": torch.utils.cmake_prefix_path, "cuda": torch.version.cuda, "version": torch.__version__}))',
      ],
      { encoding: 'utf8' },
    );
  } catch (e) {
    console.error(
      `gtr build: cannot import torch with ${python}. Run "npm run setup" (installs torch), ` +
        'or set LIBTORCH=/path/to/libtorch or Torch_DIR=/path/to/share/cmake/Torch.',
    );
    process.exit(1);
  }
  const info = JSON.parse(out.trim().split('\n').pop());
  return { prefix: info.prefix, cuda: info.cuda != null, source: `python torch ${info.version}` };
}

const t = torchInfo();
const withCuda = t.cuda && process.env.GTR_WITH_CUDA !== '0';
console.log(`gtr build: libtorch from ${t.source}; CUDA kernels: ${withCuda ? 'on' : 'off'}`);

const args = ['compile', '--log-level', 'warn', '-p', String(Math.max(1, cpus().length))];
if (spawnSync('ninja', ['--version']).status === 0) args.push('-G', 'Ninja');
if (t.prefix) args.push(`--CDCMAKE_PREFIX_PATH=${t.prefix}`);
if (process.env.Torch_DIR) args.push(`--CDTorch_DIR=${process.env.Torch_DIR}`);
args.push(`--CDGTR_TORCH_HAS_CUDA=${withCuda ? 'ON' : 'OFF'}`);
// The python whose torch this is: CMake reads its NVIDIA pip packages' metadata (scripts/torch-cuda-deps.py).
args.push(`--CDGTR_PYTHON=${python}`);
if (process.env.CUDA_ARCH) args.push(`--CDCMAKE_CUDA_ARCHITECTURES=${process.env.CUDA_ARCH}`);
if (process.env.GTR_DEBUG) args.push('--debug');
// A second build tree (e.g. while another build's addon is in use); load it with GTR_NATIVE_PATH.
if (process.env.GTR_BUILD_DIR) args.push('--out', process.env.GTR_BUILD_DIR);

// Resolved like any dependency: in a clone it is ./node_modules/cmake-js, in an installed package
// the hoisted one of the project (npm install gtr-rl builds from here too, scripts/install.mjs).
const cmakeJs = join(dirname(createRequire(import.meta.url).resolve('cmake-js/package.json')), 'bin', 'cmake-js');
// ccache keys on the compile command, which names absolute paths: with the repository root as its
// base_dir they become relative, so a clone in another folder (CI's copy, a worktree) hits the cache.
const env = { ...process.env, CCACHE_BASEDIR: process.env.CCACHE_BASEDIR ?? join(import.meta.dirname ?? '.', '..') };
const r = spawnSync(process.execPath, [cmakeJs, ...args], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
