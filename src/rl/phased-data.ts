/**
 * The loaded side of a schedule (src/recipe/schedule.ts): every phase's training rows, prompt order, grader
 * pool and held-out benchmarks. The loop (./loop.ts) asks {@link PhasedData.at} for the phase of
 * each step, saves {@link PhasedData.state} in its checkpoints, and evaluates every phase at every
 * eval point (`val/<phase>/<benchmark>/<metric>`), so both the transition to the new phase and the
 * forgetting of the old one are visible.
 */
import { loadBenchmarks } from '../eval/run.js';
import type { BenchmarkInput } from '../eval/evaluate.js';
import { loadDataset, type LoadedDataset } from '../data/load.js';
import { PromptSampler, type PromptSamplerState } from '../data/sampler.js';
import { mixSeeds } from '../data/prng.js';
import { GraderPool } from '../grading/index.js';
import type { Recipe } from '../recipe/schema.js';
import { phaseSpans, resolvePhases, spanAt, type PhaseSpan, type ResolvedPhase } from '../recipe/schedule.js';

/**
 * Every phase's held-out benchmarks (in {@link resolvePhases} order), loaded before the run
 * directory is touched, so a missing file stops the run first.
 * @throws Error `eval.benchmarks: cannot load ...` (or `data.schedule phase "B" eval: ...`)
 */
export async function loadPhaseBenchmarks(
  recipe: Recipe,
  dataDir: string | null | undefined,
): Promise<BenchmarkInput[][]> {
  const scheduled = recipe.data.schedule !== null;
  const out: BenchmarkInput[][] = [];
  for (const spec of resolvePhases(recipe)) {
    out.push(
      await loadBenchmarks(
        spec.eval,
        dataDir,
        recipe.eval.limit,
        scheduled ? `data.schedule phase "${spec.name}" eval` : 'eval.benchmarks',
      ),
    );
  }
  return out;
}

/** One phase's loaded resources. */
export interface PhaseData {
  spec: ResolvedPhase;
  data: LoadedDataset;
  sampler: PromptSampler;
  grader: GraderPool;
  /** Held-out benchmarks (loaded only when evaluation is on). */
  benchmarks: BenchmarkInput[];
}

/** Checkpoint state of the schedule: each phase's prompt order by phase name. */
export type PhasedState = Record<string, PromptSamplerState>;

/**
 * Every phase's data, prompt order and grader pool. Create with {@link PhasedData.open}; call
 * {@link PhasedData.destroy} at the end (it stops the grader workers).
 */
export class PhasedData {
  private constructor(
    readonly phases: PhaseData[],
    readonly spans: PhaseSpan[],
    readonly scheduled: boolean,
  ) {}

  /**
   * Loads each phase's training rows and starts its grader pool; `benchmarks` are
   * {@link loadPhaseBenchmarks}'s (one list per phase, [] when evaluation is off). The prompt
   * order of a phase is seeded by train.seed (and, past the first phase, the phase's index) or
   * restored from `state`.
   * @throws Error naming the phase when a dataset does not load or a restored state is missing
   */
  static async open(
    recipe: Recipe,
    o: {
      dataDir?: string | null;
      benchmarks: BenchmarkInput[][];
      state?: PhasedState;
      /** The prompt order of a recipe without a schedule (loop-state.json `sampler`). */
      singlePhaseSampler?: PromptSamplerState;
    },
  ): Promise<PhasedData> {
    const specs = resolvePhases(recipe);
    const scheduled = recipe.data.schedule !== null;
    const phases: PhaseData[] = [];
    try {
      for (const [i, spec] of specs.entries()) {
        const where = scheduled ? `data.schedule phase "${spec.name}"` : 'data.train';
        let data: LoadedDataset;
        try {
          data = await loadDataset(spec.train, {
            dataDir: o.dataDir ?? undefined,
            limit: recipe.data.limit ?? undefined,
            dropConflicts: recipe.data.drop_conflicts,
          });
        } catch (e) {
          throw scheduled
            ? new Error(`${where}: cannot load training data "${spec.train}": ${(e as Error).message}`)
            : e;
        }
        const saved = scheduled ? o.state?.[spec.name] : o.singlePhaseSampler;
        if ((o.state || o.singlePhaseSampler) && !saved)
          throw new Error(`resume: the checkpoint holds no prompt order for ${where}`);
        const sampler = saved
          ? PromptSampler.fromState(saved, data.rows.length)
          : new PromptSampler(data.rows.length, i === 0 ? recipe.train.seed : mixSeeds(recipe.train.seed, 0x9a5e, i));
        const benchmarks = o.benchmarks[i] ?? [];
        phases.push({
          spec,
          data,
          sampler,
          benchmarks,
          grader: new GraderPool({
            grader: spec.grader,
            timeoutMs: recipe.reward.timeout_ms,
            isolation: recipe.reward.isolation,
            maxMemoryMb: recipe.reward.max_memory_mb,
          }),
        });
      }
    } catch (e) {
      await Promise.all(phases.map((p) => p.grader.destroy()));
      throw e;
    }
    return new PhasedData(phases, phaseSpans(recipe), scheduled);
  }

  /** The phase of `step` (1-based) and its span. */
  at(step: number): { phase: PhaseData; span: PhaseSpan } {
    const span = spanAt(this.spans, step);
    return { phase: this.phases[span.phase]!, span };
  }

  /** Every phase's prompt order, by name (JSON-safe). */
  state(): PhasedState {
    return Object.fromEntries(this.phases.map((p) => [p.spec.name, p.sampler.state()]));
  }

  /**
   * The eval metric prefix of a phase's benchmark: `<phase>/<benchmark>`, or the benchmark alone
   * without a schedule.
   */
  benchmarkLabel(phase: PhaseData, benchmark: string): string {
    return this.scheduled ? `${phase.spec.name}/${benchmark}` : benchmark;
  }

  /** Stops every phase's grader workers. */
  async destroy(): Promise<void> {
    await Promise.all(this.phases.map((p) => p.grader.destroy()));
  }
}
