/**
 * Training and evaluation from code, through the package's public entry point ('gtr-rl'):
 * a random tiny Qwen3, the tiny GTR recipe for a step or two on real DAPO-Math-17k prompts, pass@k
 * of the trained policy on two AMC 2023 problems, and a direct call to the grader pool.
 * CPU only, nothing downloaded (`--steps 1`: 9 s on a 2-core machine). A random model learns
 * nothing in two steps: this shows the API, `gtr demo` shows learning.
 *
 *   npm run build:ts
 *   node --import tsx examples/train-tiny.ts [--steps 2] [--data-dir test/fixtures/datasets] [--out DIR]
 *
 * It prints one line per RL step, the checkpoint it evaluated, the eval table and two grades
 * (`+1` and `-1`: the dapo grader's reward for a right and a wrong final "Answer:" line).
 * --data-dir (or GTR_DATA_DIR) names the local dataset copies; --out keeps the run (default: a
 * temporary directory, removed at the end).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  GraderPool,
  Policy,
  Tokenizer,
  buildPrompt,
  decodeResponse,
  evaluate,
  generate,
  loadDataset,
  loadRecipe,
  nativeEngines,
  presetConfig,
  reportToMarkdown,
  train,
} from 'gtr-rl';

const { values: args } = parseArgs({
  options: { steps: { type: 'string', default: '2' }, 'data-dir': { type: 'string' }, out: { type: 'string' } },
});
const dataDir = args['data-dir'] ?? (process.env.GTR_DATA_DIR || 'test/fixtures/datasets'); // the excerpts shipped in the repo
const out = args.out ?? mkdtempSync(join(tmpdir(), 'gtr-example-'));
const recipePath = fileURLToPath(new URL('../recipes/tiny-gtr-dapo.yaml', import.meta.url));

// 1. A model to train: a random tiny Qwen3 (2 layers) saved in the HF layout with the Qwen3 tokenizer.
const modelDir = join(out, 'model');
const init = await Policy.random(presetConfig('tiny'), 0);
await init.save(modelDir);
init.dispose();

// 2. The tiny GTR recipe, overridden the way `gtr train --set key=value` would be.
const recipe = loadRecipe(recipePath, [
  `model.path=${modelDir}`,
  `run.dir=${join(out, 'run')}`,
  `data.data_dir=${dataDir}`,
  `train.steps=${args.steps}`,
  'eval.every_steps=0',
  'rollout.max_new_tokens=8',
]);

// 3. Train: rollouts, grading, group advantages, the GTR loss, AdamW, checkpoints.
const summary = await train(recipe, {
  engines: nativeEngines,
  log: () => {},
  onStep: (row) =>
    console.log(`step ${row.step}: ${Object.keys(row).length} metrics -> ${join(recipe.run.dir, 'metrics.jsonl')}`),
});
const checkpoint = readFileSync(join(summary.runDir, 'latest'), 'utf8').trim();
console.log(`trained ${summary.lastStep} step(s); latest checkpoint ${checkpoint}`);

// 4. Evaluate the trained policy: evaluate() takes the generation and grading as functions.
const policyDir = join(summary.runDir, checkpoint, 'policy'); // `latest` is relative to the run dir
const tokenizer = await Tokenizer.fromDir(policyDir);
const policy = await Policy.load(policyDir);
const grader = new GraderPool({ grader: 'dapo', timeoutMs: 2000 });
try {
  const amc = await loadDataset('amc23', { dataDir, limit: 2 });
  const report = await evaluate(
    {
      model: policyDir,
      benchmarks: [{ name: 'amc23', rows: amc.rows }],
      n: 2,
      metrics: ['pass@1', 'pass@2'],
      buildPrompt: (row) => {
        const p = buildPrompt('dapo', row.problem, { chat: false });
        return p.kind === 'text' ? p.text : '';
      },
    },
    {
      generate: async (prompts, n) => {
        const ids = prompts.map((p) => tokenizer.encode(p, { addSpecialTokens: false }));
        const rollouts = await generate(policy, ids, {
          n,
          maxNewTokens: 16,
          stopTokenIds: tokenizer.eosTokenIds,
          seed: 0,
        });
        return rollouts.map((group) =>
          group.map((r) => ({
            text: decodeResponse(tokenizer, r.tokens),
            tokens: r.tokens.length,
            finishReason: r.finishReason,
          })),
        );
      },
      grade: async (items) =>
        (await grader.grade(items.map((it) => ({ response: it.response, row: { answer: it.gold } })))).map((g) => ({
          correct: g.correct,
          score: g.score,
          extracted: g.extracted,
        })),
    },
  );
  console.log(reportToMarkdown(report));

  // 5. The grader pool on its own: worker threads, a per-item timeout, one result per item.
  const grades = await grader.grade([
    { response: 'Adding the two parts gives 12.\nAnswer: 12', row: { answer: '12' } },
    { response: 'Answer: 13', row: { answer: '12' } },
  ]);
  for (const g of grades)
    console.log(`grade ${g.score > 0 ? '+' : ''}${g.score} (extracted ${JSON.stringify(g.extracted)})`);
} finally {
  await grader.destroy();
  policy.dispose();
  if (!args.out) rmSync(out, { recursive: true, force: true });
}
