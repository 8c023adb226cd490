// What watches a `train()` run (src/run/observers.ts, src/run/metric-names.ts): one short real
// run (random tiny Qwen3, real DAPO prompts, an evaluation at the last step), and a second with a
// separate rollout worker one step ahead (rollout.placement separate, max_staleness 1), then
// - the README's metric table and the names the loop emits in the two runs match, both ways;
// - the TensorBoard event file read back by the Python `tensorboard` package's reader holds the
//   same tags, steps and values as metrics.jsonl (float32);
// - the run's report.html plots every changing series and lists the constant ones, with samples.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { nativeEngines } from '../src/rl/adapters.js';
import { train, type TrainPhase } from '../src/rl/loop.js';
import { RunObservers } from '../src/run/observers.js';
import { TensorBoardWriter } from '../src/report/tensorboard.js';
import { tinyModelScratch, tinyRecipe } from './helpers/tiny.js';
import { repoRoot } from './helpers/paths.js';
import { python, pythonHas } from './helpers/python.js';

const { scratch, modelDir } = tinyModelScratch('gtr-observers-', 5);
const runDir = join(scratch, 'run');
const asyncRunDir = join(scratch, 'run-separate');
const phases: [TrainPhase, number][] = [];
beforeAll(async () => {
  const recipe = tinyRecipe(modelDir, runDir, [
    'rollout.max_new_tokens=8',
    'eval.every_steps=2',
    'eval.limit=1',
    'eval.max_new_tokens=8',
    'checkpoint.every_steps=0',
    // Off-policy on, so the staleness and rollout-correction metrics are emitted too.
    'rollout.max_staleness=1',
    'algorithm.loss.rollout_is_threshold=2',
  ]);
  await train(recipe, { engines: nativeEngines, log: () => {}, onPhase: (ph, step) => phases.push([ph, step]) });
  // The metrics of a rollout worker in its own process, generating one step ahead (max_staleness 1).
  const separate = tinyRecipe(modelDir, asyncRunDir, [
    'rollout.max_new_tokens=8',
    'rollout.placement=separate',
    'rollout.max_staleness=1',
    'checkpoint.every_steps=0',
  ]);
  await train(separate, { engines: nativeEngines, log: () => {} });
}, 300_000);

const rows = (dir = runDir) =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const metricNames = (rs: Record<string, unknown>[]) =>
  [...new Set(rs.flatMap((r) => Object.keys(r)))].filter((k) => k !== 'step' && k !== 'kind');

/** The README metric table's names (between the metric-table markers), `<x>` placeholders as regexes. */
function readmeNames(): { name: string; re: RegExp }[] {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const a = readme.indexOf('<!-- metric-table:start -->'),
    b = readme.indexOf('<!-- metric-table:end -->');
  expect(a).toBeGreaterThan(0);
  expect(b).toBeGreaterThan(a);
  const names = readme
    .slice(a, b)
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) => /^\| `([^`]+)`/.exec(l)![1]);
  return names.map((name) => ({
    name,
    re: new RegExp(
      `^${name
        .split(/(<[a-z]+>)/)
        .map((part) => (/^<[a-z]+>$/.test(part) ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
        .join('')}$`,
    ),
  }));
}

describe('watching a run', () => {
  it('the README metric table lists exactly the names the loop emits', () => {
    const table = readmeNames();
    expect(new Set(table.map((t) => t.name)).size).toBe(table.length);
    const emitted = [...new Set([...metricNames(rows()), ...metricNames(rows(asyncRunDir))])];
    expect(emitted).toContain('val/amc23/pass@1'); // the eval row is there
    const undocumented = emitted.filter((n) => !table.some((t) => t.re.test(n)));
    expect(undocumented, 'emitted but not in the README table').toEqual([]);
    const unused = table.filter((t) => !emitted.some((n) => t.re.test(n))).map((t) => t.name);
    expect(unused, 'in the README table but never emitted').toEqual([]);
    // One row per name (val/mean/<metric> also fits the val/<benchmark>/<metric> pattern).
    for (const n of emitted)
      expect(table.filter((t) => t.re.test(n)).length, n).toBe(n.startsWith('val/mean/') ? 2 : 1);
  });

  it('reports the phases of every step in order', () => {
    const step1 = phases.filter(([, s]) => s === 1).map(([p]) => p);
    expect(step1).toEqual(['generate', 'grade', 'old_log_prob', 'update']);
    const step2 = phases.filter(([, s]) => s === 2).map(([p]) => p);
    // The step is checkpointed before its evaluation (an evaluation that fails loses no training).
    expect(step2).toEqual(['generate', 'grade', 'old_log_prob', 'update', 'checkpoint', 'eval']);
  });

  const tb = pythonHas(['tensorboard']);
  it.skipIf(!tb.ok)(`TensorBoard round trip through the Python reader${tb.ok ? '' : ` (skipped: ${tb.why})`}`, () => {
    const dir = join(runDir, 'tensorboard');
    expect(readdirSync(dir).filter((f) => f.startsWith('events.out.tfevents.'))).toHaveLength(1);
    const read = JSON.parse(
      execFileSync(python, [join(repoRoot, 'test', 'python', 'read_tensorboard.py'), dir], {
        encoding: 'utf8',
        timeout: 120_000,
      }),
    ) as Record<string, [number, number][]>;
    const expected = new Map<string, [number, number][]>();
    for (const r of rows()) {
      for (const [k, v] of Object.entries(r)) {
        if (k === 'step' || typeof v !== 'number') continue;
        expected.set(k, [...(expected.get(k) ?? []), [r.step as number, v]]);
      }
    }
    expect(Object.keys(read).sort()).toEqual([...expected.keys()].sort());
    for (const [tag, pts] of expected) {
      expect(
        read[tag]!.map((p) => p[0]),
        tag,
      ).toEqual(pts.map((p) => p[0]));
      // simple_value is a float32: the reader returns Math.fround of what metrics.jsonl holds.
      expect(
        read[tag]!.map((p) => p[1]),
        tag,
      ).toEqual(pts.map((p) => Math.fround(p[1])));
    }
  });
  if (!tb.ok) console.warn(`skipping the TensorBoard round trip: ${tb.why}`);

  it('report.html: a plot per changing series, the constant ones listed, the samples', () => {
    const html = readFileSync(join(runDir, 'report.html'), 'utf8');
    const titles = [...html.matchAll(/<svg [^>]*><title>([^<]*)<\/title>/g)].map((m) => m[1]);
    const block = html.slice(html.indexOf('<details class="constant">'));
    const folded = [...block.slice(0, block.indexOf('</details>')).matchAll(/<tr><td>([^<]+)<\/td><td>/g)].map(
      (m) => m[1],
    );
    expect(folded).toContain('actor/lr'); // constant schedule
    expect([...titles, ...folded].sort()).toEqual(metricNames(rows()).sort());
    expect(titles).toContain('timing_s/step');
    expect(html.match(/<summary>step \d+ \(2\)<\/summary>/g)).toHaveLength(2);
    expect(html).toMatch(/<td class="text">[^<]*Solve the following math problem/);
  });
});

describe.skipIf(!pythonHas(['tensorboard']).ok)('TensorBoard on resume', () => {
  it('rewrites the history from metrics.jsonl: steps after the resumed checkpoint appear once', () => {
    const dir = join(scratch, 'resumed');
    mkdirSync(dir, { recursive: true });
    // The first run logged steps 1..3 to TensorBoard; the resume truncated metrics.jsonl to step 2.
    const old = new TensorBoardWriter(join(dir, 'tensorboard'));
    for (const step of [1, 2, 3]) old.write({ step, kind: 'train', 'critic/score/mean': step });
    writeFileSync(
      join(dir, 'metrics.jsonl'),
      [1, 2].map((step) => JSON.stringify({ step, kind: 'train', 'critic/score/mean': step })).join('\n') + '\n',
    );
    const obs = new RunObservers(dir, { tensorboard: true, report: false, log: () => {} });
    obs.metrics({ step: 3, kind: 'train', 'critic/score/mean': 30 });
    const files = readdirSync(join(dir, 'tensorboard'));
    expect(files).toHaveLength(1);
    expect(files[0]).not.toBe(old.file.split('/').pop());
    const read = JSON.parse(
      execFileSync(python, [join(repoRoot, 'test', 'python', 'read_tensorboard.py'), join(dir, 'tensorboard')], {
        encoding: 'utf8',
      }),
    );
    expect(read).toEqual({
      'critic/score/mean': [
        [1, 1],
        [2, 2],
        [3, 30],
      ],
    });
  });
});

describe('turning the observers off', () => {
  it('run.tensorboard: false and run.report: false write neither', () => {
    const dir = join(scratch, 'quiet');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'metrics.jsonl'),
      JSON.stringify({ step: 1, kind: 'train', 'critic/score/mean': 1 }) + '\n',
    );
    const obs = new RunObservers(dir, { tensorboard: false, report: false, log: () => {} });
    obs.metrics({ step: 1, kind: 'train', 'critic/score/mean': 1 });
    obs.refresh();
    expect(readdirSync(dir)).toEqual(['metrics.jsonl']);
    new RunObservers(dir, { tensorboard: false, report: true, log: () => {} }).refresh();
    expect(readdirSync(dir).sort()).toEqual(['metrics.jsonl', 'report.html']);
  });
});
