/**
 * Where a benchmark's JSON goes: `<out>/<bench>-<config>-<device>-<ISO time>.json`, written with
 * the project's one atomic writer (src/checkpoint/save.ts).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../src/checkpoint/save.js';

/** Writes `body` as pretty JSON and prints the path; returns it. */
export function writeBenchResult(out: string, bench: string, config: string, device: string, body: object): string {
  mkdirSync(out, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(out, `${bench}-${config}-${device.replace(':', '')}-${stamp}.json`);
  writeFileAtomicSync(file, `${JSON.stringify(body, null, 2)}\n`);
  console.log(`wrote ${file}`);
  return file;
}
