#!/usr/bin/env node
// `npm pack` / `npm publish` ("prepack"): copies this checkout's CPU addon build (build/Release:
// gtr_native.node and gtr_gloo.so) into prebuilds/<platform>-<arch>/ with build.json (the torch it
// links), for scripts/install.mjs. A CUDA build is not shipped (it needs the same CUDA libraries
// at the same paths), nor is anything when no addon was built: install then builds from source.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const release = join(root, 'build', 'Release');
const out = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
rmSync(join(root, 'prebuilds'), { recursive: true, force: true });
if (!existsSync(join(release, 'gtr_native.node'))) {
  console.log('prebuild: no build/Release/gtr_native.node; the package will build from source on install');
  process.exit(0);
}
const torch = JSON.parse(
  execFileSync(process.env.PYTHON ?? 'python3', [
    '-c',
    'import torch, json; print(json.dumps({"torch": torch.__version__, "cuda": torch.version.cuda, "lib": torch.__path__[0] + "/lib"}))',
  ]).toString(),
);
if (torch.cuda) {
  console.log(`prebuild: torch ${torch.torch} has CUDA; no prebuilt shipped (install builds from source)`);
  process.exit(0);
}
mkdirSync(out, { recursive: true });
for (const f of readdirSync(release)) if (/\.(node|so)$/.test(f)) copyFileSync(join(release, f), join(out, f));
writeFileSync(
  join(out, 'build.json'),
  JSON.stringify({ ...torch, node_api: 8, built: new Date().toISOString() }, null, 2) + '\n',
);
console.log(`prebuild: ${out} (torch ${torch.torch}, libtorch at ${torch.lib})`);
