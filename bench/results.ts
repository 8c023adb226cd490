/**
 * Where a benchmark's JSON goes: `<out>/<bench>-<config>-<device>-<ISO time>.json`, written with
 * the project's one atomic writer (src/checkpoint/save.ts), with the fields every result carries
 * (bench, config, device, the addon's versions, the date) ahead of the benchmark's own.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../src/checkpoint/save.js';
import { native } from '../src/native/binding.js';

/** Writes `body` as pretty JSON and prints the path; returns it. */
export function writeBenchResult(out: string, bench: string, config: string, device: string, body: object): string {
  mkdirSync(out, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(out, `${bench}-${config}-${device.replace(':', '')}-${stamp}.json`);
  const common = { bench, config, device, versions: native().versions(), date: new Date().toISOString() };
  writeFileAtomicSync(file, `${JSON.stringify({ ...common, ...body }, null, 2)}\n`);
  console.log(`wrote ${file}`);
  return file;
}
