/**
 * Evaluation wired to the real pieces: benchmark datasets from the registry, prompts through the
 * template (and chat template), n samples per problem through the rollout engine, the grader (`math`
 * unless `grader` or a pool says otherwise) on the worker pool; the report's `settings.grader`
 * records the grader's name and rule version. Used by `gtr eval` and by `gtr train` every K steps.
 */
import { loadDataset } from '../data/load.js';
import { GraderPool, type GraderSpec } from '../grading/index.js';
import { checkContextLength } from '../checkpoint/limits.js';
import { graderRow } from '../grading/row.js';
import type { RolloutEngine } from '../rollout/engine.js';
import { renderPrompt, responseText, type PromptRendering } from '../rollout/prompt.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { DistContext } from '../parallel/context.js';
import { shardRange } from '../parallel/shard.js';
import { evaluate, type BenchmarkInput, type EvalDeps, type EvaluateResult } from './evaluate.js';

export interface EvalRunSettings {
  benchmarks: string[];
  n: number;
  /** pass@k values (each <= n); mean@n and maj@n are always reported. */
  k: number[];
  limit: number | null;
  rendering: PromptRendering;
  temperature: number;
  topP: number;
  topK?: number;
  maxNewTokens: number;
  seed: number;
  stopTokenIds: number[];
  /**
   * Stop strings (recipe rollout.stop): a response ends at the token completing the first match and
   * is graded without it, as in training (src/rollout/prompt.ts responseText). Default none.
   */
  stopStrings?: string[];
  /** Rollout KV cache budget in GiB (0 / absent = each call sized to its worst case). */
  kvCacheGib?: number;
  dataDir?: string | null;
  graderTimeoutMs?: number;
  /** Grader when no pool is passed (default `'math'`): a registry name or a custom module. */
  grader?: GraderSpec;
  modelName: string;
  /**
   * The model's context (max_position_embeddings, from `source`): each prompt plus `maxNewTokens`
   * must fit, else the run stops naming the benchmark, problem and `maxNewTokensName` (the flag or
   * key the user set). Unchecked when absent.
   */
  context?: { maxPositions: number; maxNewTokensName: string; source: string };
  onProgress?: (e: { benchmark: string; done: number; total: number }) => void;
  /** Benchmarks already loaded (see {@link loadBenchmarks}); undefined = load `benchmarks` now. */
  preloaded?: BenchmarkInput[];
  /** Aborting cancels the generation under way (the evaluation then rejects). */
  signal?: AbortSignal;
  /**
   * Data parallelism: each rank samples and grades its contiguous block of every batch's problems
   * (sampling streams seeded by the problem's index in the batch, as in one process) and the
   * results are gathered, so every rank returns the single-process report. All ranks must call.
   */
  dist?: DistContext;
}

/** The metric names reported for n samples and the requested k values. */
export function evalMetrics(n: number, k: number[]): string[] {
  for (const x of k) if (x > n) throw new Error(`pass@${x} needs at least ${x} samples per problem (n = ${n})`);
  return [...k.map((x) => `pass@${x}`), `mean@${n}`, `maj@${n}`];
}

/**
 * Loads (downloads when needed) the benchmark datasets, so that a run can fail before its work.
 * @param what names the setting in errors (e.g. `eval.benchmarks`)
 * @throws Error `<what>: cannot load "<name>": <cause>`
 */
export async function loadBenchmarks(
  names: string[],
  dataDir: string | null | undefined,
  limit: number | null,
  what = 'benchmarks',
): Promise<BenchmarkInput[]> {
  const out: BenchmarkInput[] = [];
  for (const name of names) {
    try {
      const ds = await loadDataset(name, {
        dataDir: dataDir ?? undefined,
        limit: limit ?? undefined,
        onIssue: () => {},
      });
      out.push({ name, rows: ds.rows });
    } catch (e) {
      throw new Error(`${what}: cannot load "${name}": ${(e as Error).message}`);
    }
  }
  return out;
}

/** Runs the benchmarks and returns the report with per-problem results. */
export async function runEvaluation(
  engine: RolloutEngine,
  tokenizer: Tokenizer,
  s: EvalRunSettings,
  pool?: GraderPool,
): Promise<EvaluateResult> {
  const metrics = evalMetrics(s.n, s.k);
  const benchmarks = s.preloaded ?? (await loadBenchmarks(s.benchmarks, s.dataDir, s.limit));
  const ownPool = !pool;
  const grader = pool ?? new GraderPool({ grader: s.grader ?? 'math', timeoutMs: s.graderTimeoutMs ?? 5000 });
  const prompts = new Map<string, Int32Array>();
  const dist = s.dist ?? DistContext.single();
  /** The block of the last generate call this rank sampled (its grading block is the same). */
  let block = { start: 0, end: 0, n: 1, total: 0 };
  const stopStrings = s.stopStrings?.length ? s.stopStrings : undefined;
  const tokenBytes = stopStrings ? tokenizer.tokenBytes() : undefined;
  const generateAll = async (texts: string[], n: number) => {
    const out = await engine.generate(
      texts.map((t) => prompts.get(t) ?? Int32Array.from(tokenizer.encode(t))),
      {
        n,
        maxNewTokens: s.maxNewTokens,
        temperature: s.temperature,
        topP: s.topP,
        topK: s.topK ?? 0,
        minP: 0,
        stopTokenIds: s.stopTokenIds,
        seed: s.seed,
        kvCacheGib: s.kvCacheGib,
        promptIndexOffset: block.start,
        vocabSize: tokenizer.vocabSize,
        stopStrings,
        tokenBytes,
      },
      s.signal,
    );
    return out.map((group) =>
      group.map((r) => ({
        text: responseText(tokenizer, r, stopStrings),
        tokens: r.tokens.length,
        finishReason: r.finishReason,
      })),
    );
  };
  const gradeAll = async (items: Parameters<EvalDeps['grade']>[0]) => {
    const res = await grader.grade(
      items.map((it) => ({
        response: it.response,
        row: graderRow({ id: it.problemId, problem: it.problem, answer: it.gold, extra: it.extra ?? {} }),
      })),
    );
    return res.map((r) => ({ correct: r.correct, score: r.score, extracted: r.extracted }));
  };
  try {
    const result = await evaluate(
      {
        model: s.modelName,
        benchmarks,
        n: s.n,
        metrics,
        onProgress: s.onProgress,
        settings: {
          template: s.rendering.template,
          chat: s.rendering.chat,
          temperature: s.temperature,
          top_p: s.topP,
          max_new_tokens: s.maxNewTokens,
          seed: s.seed,
        },
        buildPrompt: (row, bench) => {
          const p = renderPrompt(
            tokenizer,
            { id: row.id, problem: row.problem, answer: row.answer, extra: row.extra ?? {} },
            s.rendering,
          );
          if (s.context) {
            checkContextLength(p.tokens.length, s.maxNewTokens, s.context.maxPositions, {
              prompt: `benchmark ${bench} problem "${row.id}": the prompt`,
              maxNewTokens: s.context.maxNewTokensName,
              limit: s.context.source,
            });
          }
          prompts.set(p.text, p.tokens);
          return p.text;
        },
        generateOptions: { maxNewTokens: s.maxNewTokens, temperature: s.temperature, topP: s.topP, seed: s.seed },
      },
      {
        generate: async (texts, n) => {
          if (!dist.distributed) return generateAll(texts, n);
          const sh = shardRange(texts.length, dist.rank, dist.worldSize);
          block = { ...sh, n, total: texts.length };
          const mine = sh.end > sh.start ? await generateAll(texts.slice(sh.start, sh.end), n) : [];
          return (await dist.gatherJson(mine, 'evaluation samples')).flat();
        },
        grade: async (items) => {
          if (!dist.distributed) return gradeAll(items);
          if (items.length !== block.total * block.n)
            throw new Error('internal: evaluation grading does not follow its generation');
          const mine =
            block.end > block.start ? await gradeAll(items.slice(block.start * block.n, block.end * block.n)) : [];
          return (await dist.gatherJson(mine, 'evaluation verdicts')).flat();
        },
      },
    );
    // Every number in the report comes from this grader at this rule version (read after grading:
    // the math_verify workers report their package version when they start).
    result.settings.grader = grader.graderId;
    return result;
  } finally {
    if (ownPool) await grader.destroy();
  }
}
