#!/usr/bin/env node
// The project's formatters: prettier 3 (.prettierrc.json, .prettierignore) for TS / JS, clang-format 18
// (.clang-format; the pinned pip wheel clang-format==18.1.8 that scripts/setup.sh installs) for native/.
//   node scripts/format.mjs           rewrite every tracked source in place (npm run format)
//   node scripts/format.mjs --check   list the files that differ and exit 1 (test/format.test.ts runs the same check)
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as prettier from 'prettier';

const root = join(import.meta.dirname, '..');

/** Tracked sources per formatter (git ls-files; paths relative to the repo root). */
export function sourceFiles() {
  const ls = (...globs) =>
    execFileSync('git', ['ls-files', '--', ...globs], { cwd: root, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
  return {
    prettier: ls('*.ts', '*.mjs', '*.js'),
    clang: ls('native/*.cpp', 'native/*.h', 'native/*.cu', 'native/*.cuh'),
  };
}

/** The clang-format 18 executable of the pip wheel, or null when python3 has no clang_format package. */
export function clangFormatBinary() {
  const r = spawnSync(
    process.env.PYTHON ?? 'python3',
    [
      '-c',
      'import clang_format, os; print(os.path.join(os.path.dirname(clang_format.__file__), "data", "bin", "clang-format"))',
    ],
    { encoding: 'utf8' },
  );
  return r.status === 0 ? r.stdout.trim() : null;
}

/** The files of `files` that .prettierignore leaves out. */
export async function prettierIgnored(files) {
  const out = [];
  for (const f of files) {
    const info = await prettier.getFileInfo(join(root, f), { ignorePath: join(root, '.prettierignore') });
    if (info.ignored) out.push(f);
  }
  return out;
}

/** Files prettier would change (write = false) or changed (write = true). */
export async function runPrettier(files, write) {
  const out = [];
  for (const f of files) {
    const path = join(root, f);
    const info = await prettier.getFileInfo(path, { ignorePath: join(root, '.prettierignore') });
    if (info.ignored || !info.inferredParser) continue;
    const src = readFileSync(path, 'utf8');
    const options = { ...(await prettier.resolveConfig(path)), filepath: path };
    const formatted = await prettier.format(src, options);
    if (formatted !== src) {
      out.push(f);
      if (write) writeFileSync(path, formatted);
    }
  }
  return out;
}

/** Files clang-format would change (write = false) or changed (write = true). */
export function runClangFormat(bin, files, write) {
  const out = [];
  for (const f of files) {
    const before = readFileSync(join(root, f), 'utf8');
    const after = execFileSync(bin, ['--style=file', join(root, f)], {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    if (after !== before) {
      out.push(f);
      if (write) writeFileSync(join(root, f), after);
    }
  }
  return out;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const check = process.argv.includes('--check');
  const files = sourceFiles();
  const bin = clangFormatBinary();
  if (!bin) {
    console.error('format: clang-format 18 not found (pip install clang-format==18.1.8, or npm run setup)');
    process.exit(2);
  }
  const changed = [...(await runPrettier(files.prettier, !check)), ...runClangFormat(bin, files.clang, !check)];
  if (check && changed.length > 0) {
    console.error(
      `format: ${changed.length} file(s) differ from their formatted form (run npm run format):\n  ${changed.join('\n  ')}`,
    );
    process.exit(1);
  }
  console.log(check ? 'format: all sources formatted' : `format: ${changed.length} file(s) rewritten`);
}
