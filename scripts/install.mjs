#!/usr/bin/env node
// `npm install gtr-rl` (the package's "install" script): puts the native addon in
// build/Release/gtr_native.node, so that an installed package runs.
//  1. An addon already there that loads (a re-install): kept.
//  2. The prebuilt in prebuilds/<platform>-<arch>/ (linux-x64, CPU, made by `npm pack` from the
//     packing machine's build; build.json says against which torch): used when it loads here, i.e.
//     when this machine's pip torch is the same version at the same path (the addon links
//     libtorch from the torch Python package, found through its RUNPATH).
//  3. Otherwise a build from source (scripts/build-native.mjs: python3 with torch, cmake and a C++17
//     compiler; about 10 minutes on 2 cores without ccache). Failing that, the install fails with
//     what to install.
// In a git clone this does nothing: `npm run setup` builds the addon there.
// GTR_SKIP_NATIVE_INSTALL=1 skips everything (e.g. to build later with `npm run build:native`).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const release = join(root, 'build', 'Release');
const addon = join(release, 'gtr_native.node');
const say = (m) => console.log(`gtr-rl install: ${m}`);

/** Whether the addon at `path` loads in a fresh process (libtorch found, symbols resolved). */
function loads(path) {
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(path)}).version ?? 0`], { encoding: 'utf8' });
  return {
    ok: r.status === 0,
    why:
      (r.stderr || '')
        .trim()
        .split('\n')
        .find((l) => /Error|error/.test(l)) ?? '',
  };
}

if (process.env.GTR_SKIP_NATIVE_INSTALL === '1') {
  say('GTR_SKIP_NATIVE_INSTALL=1: no addon set up (build it with `npm run build:native`)');
  process.exit(0);
}
if (existsSync(join(root, '.git'))) process.exit(0); // a clone: npm run setup builds the addon

if (existsSync(addon) && loads(addon).ok) {
  say(`addon present (${addon})`);
  process.exit(0);
}

const pre = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
if (existsSync(join(pre, 'gtr_native.node'))) {
  mkdirSync(release, { recursive: true });
  for (const f of readdirSync(pre)) if (/\.(node|so)$/.test(f)) copyFileSync(join(pre, f), join(release, f));
  const info = existsSync(join(pre, 'build.json')) ? JSON.parse(readFileSync(join(pre, 'build.json'), 'utf8')) : {};
  const l = loads(addon);
  if (l.ok) {
    say(`using the prebuilt ${process.platform}-${process.arch} addon (built against torch ${info.torch ?? '?'})`);
    process.exit(0);
  }
  say(`the prebuilt addon does not load here (${l.why || 'unknown error'}); building from source`);
}

say('building the native addon from source (python3 with torch, cmake, a C++17 compiler; ccache speeds re-builds)');
const b = spawnSync(process.execPath, [join(root, 'scripts', 'build-native.mjs')], { cwd: root, stdio: 'inherit' });
if (b.status !== 0 || !loads(addon).ok) {
  console.error(
    'gtr-rl install: the native addon could not be built. Install torch for python3 (pip install torch==2.13.0), ' +
      'cmake and a C++17 compiler, then run `npm rebuild gtr-rl`; or set LIBTORCH=/path/to/libtorch.',
  );
  process.exit(1);
}
say(`built ${addon}`);
