/**
 * `gtr eval --model DIR --benchmarks a,b [--n 16] [--k 1,4] [--limit N] [--template dapo|boxed]
 *   [--temperature T] [--top-p P] [--max-new-tokens N] [--data-dir DIR] [--grader math|math_verify|dapo|module]
 *   --out DIR`
 * and `gtr eval compare a.json b.json ...`.
 */
import type { Command } from 'commander';
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import {
  checkContextLength,
  checkModelDir,
  readQwen3Config,
  writeFileAtomicSync,
  resolveModelPath,
} from '../../checkpoint/index.js';
import { datasetNames } from '../../data/manifest.js';
import { compareReports } from '../../eval/compare.js';
import { runEvaluation } from '../../eval/run.js';
import { loadEvalReport } from '../../eval/schema.js';
import { reportToMarkdown, writeEvalOutputs } from '../../eval/writers.js';
import { parseGraderSpec } from '../../grading/custom.js';
import { Policy } from '../../policy.js';
import { resolveKvBudget } from '../../rollout/index.js';
import { rolloutEngine } from '../../rollout/engine.js';
import { Tokenizer } from '../../tokenizer/index.js';
import { intFlag, numberFlag, seedFlag } from '../flags.js';
import { parseDTypeFlag } from './init-model.js';
import { DistContext } from '../../parallel/context.js';
import { readDistEnv } from '../../parallel/env.js';
import { maybeLaunch } from './train.js';

const list = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
const ints = (flag: string) => (s: string) =>
  list(s).map((x) => {
    const v = Number(x);
    if (!Number.isInteger(v) || v < 1) throw new Error(`${flag}: "${x}" is not a positive integer`);
    return v;
  });
const num = (flag: string, min: number) => numberFlag(flag, { min });

/**
 * Checks `--out` before any work: it must be a directory, or not exist yet with a writable
 * directory as its nearest existing ancestor, so a bad path fails in a second, not after the whole
 * evaluation. Nothing is created here: a run that fails later leaves no empty `--out` behind.
 * @throws Error `--out: <path> is a file, not a directory`, or naming why it cannot be created.
 */
export function prepareOutDir(out: string): void {
  const abs = resolve(out);
  const st = statSync(abs, { throwIfNoEntry: false });
  if (st && !st.isDirectory())
    throw new Error(
      `--out: ${abs} is a file, not a directory (the report is written as report.json, report.md and per-benchmark JSONL inside it)`,
    );
  let probe = abs;
  while (!existsSync(probe)) probe = dirname(probe);
  if (!statSync(probe).isDirectory()) throw new Error(`--out: cannot create ${abs}: ${probe} is a file`);
  try {
    accessSync(probe, constants.W_OK);
  } catch {
    throw new Error(`--out: cannot create ${abs}: ${probe} is not writable`);
  }
}

/**
 * The default `--max-new-tokens`: 4096, capped to leave room for prompts of up to 1024 tokens in
 * the model's context (half the context for models shorter than 2048), so the default fits any
 * model (the tiny one has 4096 positions).
 */
export function defaultMaxNewTokens(maxPositions: number): number {
  return Math.min(4096, maxPositions >= 2048 ? maxPositions - 1024 : Math.floor(maxPositions / 2));
}

export function register(program: Command): void {
  const cmd = program
    .command('eval')
    .description('evaluate a checkpoint with pass@k / mean@n / maj@n on math benchmarks');
  cmd
    .option('--model <dir|id>', 'checkpoint directory (HF layout) or hub id owner/name[@revision]')
    .option('--benchmarks <names>', 'comma-separated: math500, olympiadbench, minerva, amc23, aime24, aime25', list, [
      'math500',
      'olympiadbench',
      'minerva',
      'amc23',
    ])
    .option('--n <n>', 'samples per problem', intFlag('--n', { min: 1 }), 16)
    .option('--k <list>', 'pass@k values', ints('--k'), [1, 4])
    .option('--limit <n>', 'first N problems of each benchmark', intFlag('--limit', { min: 1 }))
    .option('--template <name>', 'prompt template: dapo | boxed', 'dapo')
    .option('--chat', 'render prompts through the chat template (instruct models)')
    .option('--temperature <t>', 'sampling temperature', num('--temperature', 0), 1.0)
    .option('--top-p <p>', 'nucleus mass', numberFlag('--top-p', { min: 0, max: 1 }), 1.0)
    .option('--top-k <k>', 'top-k (0 = off)', intFlag('--top-k', { min: 0 }), 0)
    .option(
      '--max-new-tokens <n>',
      "response length limit (default: 4096, or the model's max_position_embeddings - 1024 when that is less)",
      intFlag('--max-new-tokens', { min: 1 }),
    )
    .option('--seed <s>', 'sampling seed', seedFlag(), 0)
    .option('--data-dir <dir>', 'local dataset copies (else downloaded)')
    .option('--device <device>', 'cpu | cuda | cuda:N (default: cuda when available)')
    .option('--dtype <dtype>', 'fp32 | bf16')
    .option('--out <dir>', 'output directory (report.json, report.md, per-problem JSONL)')
    .option(
      '--kv-cache-gib <gib>',
      'rollout KV cache budget in GiB (default: on CUDA the free memory less a margin)',
      num('--kv-cache-gib', 0),
    )
    .option(
      '--grader <name|module[#export]>',
      'grader: math, math_verify, dapo, or a custom module (recorded in the report)',
      'math',
    )
    .option(
      '--nproc-per-node <n>',
      'data-parallel ranks on this machine, each sampling a block of the problems (multi-node: torchrun)',
    )
    .action(async (o) => {
      if (!o.model) throw new Error('gtr eval: --model is required');
      if (!o.out) throw new Error('gtr eval: --out is required');
      if (o.benchmarks.length === 0)
        throw new Error(
          `--benchmarks: no benchmark named; give a comma-separated list of ${datasetNames('eval').join(', ')}`,
        );
      const launched = await maybeLaunch(o.nprocPerNode);
      if (launched !== undefined) {
        process.exitCode = launched;
        return;
      }
      const env = readDistEnv();
      const dist = env ? await DistContext.join(env, o.device ?? 'cpu') : DistContext.single();
      o.model = await resolveModelPath(o.model, '--model'); // a hub id: its cached snapshot
      checkModelDir(o.model, '--model');
      const config = await readQwen3Config(o.model);
      if (o.maxNewTokens === undefined) o.maxNewTokens = defaultMaxNewTokens(config.native.maxPositionEmbeddings);
      const context = {
        maxPositions: config.native.maxPositionEmbeddings,
        maxNewTokensName: '--max-new-tokens',
        source: join(o.model, 'config.json'),
      };
      checkContextLength(0, o.maxNewTokens, context.maxPositions, {
        prompt: '',
        maxNewTokens: '--max-new-tokens',
        limit: context.source,
      });
      prepareOutDir(o.out);
      const grader = parseGraderSpec(o.grader);
      const tokenizer = await Tokenizer.fromDir(o.model);
      const device =
        dist.distributed && (o.device ?? 'cpu') === 'cuda' ? `cuda:${dist.localRank}` : (o.device ?? 'cpu');
      const policy = await Policy.load(o.model, { device, dtype: o.dtype ? parseDTypeFlag(o.dtype) : undefined });
      try {
        const kv = resolveKvBudget(o.kvCacheGib, o.device ?? 'cpu', 0, '--kv-cache-gib');
        console.error(kv.describe);
        const report = await runEvaluation(rolloutEngine(policy), tokenizer, {
          kvCacheGib: kv.gib,
          benchmarks: o.benchmarks,
          n: o.n,
          k: o.k,
          limit: o.limit ?? null,
          rendering: { template: o.template, chat: !!o.chat, enableThinking: false },
          temperature: o.temperature,
          topP: o.topP,
          topK: o.topK,
          maxNewTokens: o.maxNewTokens,
          seed: o.seed,
          stopTokenIds: tokenizer.eosTokenIds,
          dataDir: o.dataDir ?? null,
          modelName: o.model,
          context,
          grader,
          // Progress from rank 0 alone (under torchrun every rank would draw its own line).
          onProgress: (e) => {
            if (dist.isMain) process.stderr.write(`\r${e.benchmark}: ${e.done}/${e.total}   `);
          },
          dist,
        });
        if (dist.isMain) process.stderr.write('\n');
        // Every rank holds the whole report; rank 0 alone writes it, the others wait for the write.
        if (dist.isMain) {
          mkdirSync(o.out, { recursive: true });
          const { results, ...rep } = report;
          await writeEvalOutputs(o.out, rep, results);
          console.log(reportToMarkdown(rep));
          console.log(`wrote ${o.out}`);
        }
        await dist.barrier('evaluation report written by rank 0');
      } finally {
        policy.dispose();
        dist.close();
      }
    });
  cmd
    .command('compare <reports...>')
    .description('line up eval reports (report.json files, or the --out directories holding them) side by side')
    .option('--json', 'print JSON')
    .option('--out <file>', 'also write the markdown table here')
    .action(async (files: string[], o: { json?: boolean; out?: string }) => {
      const reports = await Promise.all(files.map((f) => loadEvalReport(f)));
      const names = files.map((f, i) => `${i + 1}:${basename(f.replace(/\/report\.json$/, ''))}`);
      const cmp = compareReports(reports, names);
      if (o.out) writeFileAtomicSync(o.out, cmp.markdown);
      console.log(o.json ? JSON.stringify(cmp.json, null, 2) : cmp.markdown);
    });
}
