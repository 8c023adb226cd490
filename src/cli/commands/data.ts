/**
 * `gtr data fetch [NAME...]` and `gtr data list`: the registered datasets (datasets/manifest.json),
 * downloaded from the Hugging Face hub (or a commit-pinned URL) into the cache, and optionally
 * written as normalised JSONL copies into a data dir for runs without network.
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cachePath, datasetNames, defaultCacheDir, fetchDatasets, getDatasetEntry } from '../../data/index.js';

export function register(program: Command): void {
  const data = program
    .command('data')
    .description('the registered datasets: list them, fetch them into the cache or a data dir');
  data
    .command('fetch')
    .description(
      'download datasets (default: all) from the hub into the cache; with --data-dir, write JSONL copies there',
    )
    .argument('[names...]', `dataset names: ${datasetNames().join(', ')}`)
    .option(
      '--data-dir <dir>',
      'also write the normalised JSONL copies here (default: $GTR_DATA_DIR when set); runs then read them with --data-dir',
    )
    .option('--cache-dir <dir>', 'download cache (default: $GTR_CACHE_DIR/datasets or ~/.cache/gtr-rl/datasets)')
    .option('--hub-url <url>', 'Hugging Face hub endpoint (default: $HF_ENDPOINT or https://huggingface.co)')
    .option('--force', 'download again even when cached')
    .addHelpText(
      'after',
      '\nExamples (with no names, every dataset):\n' +
        '  gtr data fetch math500 dapo-math-17k             # into the cache\n' +
        '  gtr data fetch math500 --data-dir data           # and data/math500.jsonl (then --data-dir data)\n' +
        'Gated or private repos: set HF_TOKEN.',
    )
    .action(async (names: string[], o: { dataDir?: string; cacheDir?: string; hubUrl?: string; force?: boolean }) => {
      const dataDir = o.dataDir ?? (process.env.GTR_DATA_DIR || undefined);
      const token = process.env.HF_TOKEN || undefined;
      await fetchDatasets(names, {
        dataDir,
        cacheDir: o.cacheDir,
        hubUrl: o.hubUrl ?? (process.env.HF_ENDPOINT || undefined),
        force: o.force,
        ...(token ? { accessToken: token } : {}),
        log: (line) => console.log(line),
      });
    });
  data
    .command('list')
    .description('the registered datasets: role, rows, and whether each is cached or in the data dir')
    .option('--data-dir <dir>', 'data dir to look in (default: $GTR_DATA_DIR)')
    .option('--cache-dir <dir>', 'download cache (default: $GTR_CACHE_DIR/datasets or ~/.cache/gtr-rl/datasets)')
    .action((o: { dataDir?: string; cacheDir?: string }) => {
      const dataDir = o.dataDir ?? (process.env.GTR_DATA_DIR || undefined);
      const cacheDir = o.cacheDir ?? defaultCacheDir();
      for (const name of datasetNames()) {
        const e = getDatasetEntry(name);
        const where = [
          dataDir && existsSync(join(dataDir, e.local.file)) ? `data dir: ${join(dataDir, e.local.file)}` : null,
          existsSync(cachePath(e.remote, cacheDir)) ? 'cached' : null,
        ].filter(Boolean);
        console.log(
          `${name.padEnd(14)} ${e.role.padEnd(5)} ${String(e.local.rows).padStart(6)} rows  ${where.length ? where.join(', ') : 'not fetched'}`,
        );
      }
    });
}
