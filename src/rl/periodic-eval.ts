/**
 * The loop's periodic evaluation (recipe `eval`): every phase's benchmarks on the current policy,
 * a report per phase under <run>/eval/, and one `kind: 'eval'` metrics row. It runs after the step's
 * checkpoint, so an evaluation that fails is logged and counted and training goes on; rank 0 alone
 * evaluates and the other ranks wait.
 */
import { mkdirSync } from 'node:fs';
import { writeFileAtomicSync } from '../checkpoint/save.js';
import { join } from 'node:path';
import { mixSeeds } from '../data/prng.js';
import { runEvaluation } from '../eval/run.js';
import { reportToMarkdown } from '../eval/writers.js';
import { M, evalLengthName, evalMeanName, evalMetricName } from '../run/metric-names.js';
import { promptRendering, recordMetrics, type RunContext } from './run-context.js';

/**
 * Evaluates at `step` on rank 0 while the others wait at a barrier. A failure is logged as a warning,
 * counted in `ctx.progress.evalErrors` and recorded as a `val/failed` row; a cancelled one (the
 * signal) is logged only. Never throws for an evaluation error.
 */
export async function evaluateStep(ctx: RunContext, step: number): Promise<void> {
  const { dist } = ctx;
  if (dist.distributed) {
    if (dist.isMain) await evaluateGuarded(ctx, step);
    return dist.barrier(`evaluation at step ${step} on rank 0`);
  }
  return evaluateGuarded(ctx, step);
}

async function evaluateGuarded(ctx: RunContext, step: number): Promise<void> {
  try {
    await evaluateAt(ctx, step);
  } catch (e) {
    if (ctx.opts.signal?.aborted) return ctx.log(`evaluation at step ${step} cancelled`);
    ctx.progress.evalErrors++;
    const message = (e as Error).message;
    ctx.log(`warning: evaluation at step ${step} failed, training goes on: ${message}`);
    recordMetrics(ctx, {
      step,
      kind: 'eval',
      [M.valFailed]: 1,
      [M.valFailuresTotal]: ctx.progress.evalErrors,
      error: message,
    });
  }
}

/**
 * Every phase is evaluated (with its own template and grader under a schedule), so forgetting and
 * transition both show; writes eval/step-NNNNNN[-phase].json and records the metrics row.
 */
async function evaluateAt(ctx: RunContext, step: number): Promise<void> {
  const { recipe, phased, opts } = ctx;
  const e = recipe.eval;
  const t0 = performance.now();
  const val: Record<string, number> = {};
  for (const phase of phased.phases) {
    const report = await runEvaluation(
      ctx.rollout,
      ctx.tokenizer,
      {
        benchmarks: phase.spec.eval,
        n: e.n,
        k: e.k,
        limit: e.limit,
        rendering: promptRendering(recipe, phased.scheduled ? phase.spec.template : e.template),
        temperature: e.temperature,
        topP: e.top_p,
        maxNewTokens: e.max_new_tokens,
        seed: mixSeeds(recipe.rollout.seed, 7919, step),
        stopTokenIds: ctx.stopTokenIds,
        stopStrings: recipe.rollout.stop,
        dataDir: opts.dataDir ?? recipe.data.data_dir,
        modelName: `${recipe.model.path}@step${step}`,
        preloaded: phase.benchmarks,
        signal: opts.signal,
        context: {
          maxPositions: ctx.policy.config.native.maxPositionEmbeddings,
          maxNewTokensName: 'eval.max_new_tokens',
          source: join(recipe.model.path, 'config.json'),
        },
      },
      phase.grader,
    );
    const dir = join(ctx.run.dir, 'eval');
    mkdirSync(dir, { recursive: true });
    const { results, ...rep } = report;
    const suffix = phased.scheduled ? `-${phase.spec.name}` : '';
    writeFileAtomicSync(join(dir, `step-${String(step).padStart(6, '0')}${suffix}.json`), JSON.stringify(rep, null, 2));
    for (const b of report.benchmarks) {
      const label = phased.benchmarkLabel(phase, b.name);
      for (const [k, v] of Object.entries(b.metrics)) val[evalMetricName(label, k)] = v;
      val[evalLengthName(label)] = b.meanResponseTokens;
    }
    for (const [k, v] of Object.entries(report.macro))
      val[phased.scheduled ? evalMetricName(phase.spec.name, `mean/${k}`) : evalMeanName(k)] = v;
    ctx.log(`${phased.scheduled ? `phase ${phase.spec.name}:\n` : ''}${reportToMarkdown(report)}`);
    void results;
  }
  recordMetrics(ctx, {
    step,
    kind: 'eval',
    ...val,
    [M.timeTesting]: (performance.now() - t0) / 1000,
    [M.valFailed]: 0,
    [M.valFailuresTotal]: ctx.progress.evalErrors,
  });
}
