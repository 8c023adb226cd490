/**
 * The library entry point of `gtr-rl` (package.json `exports["."]`): everything a program needs to
 * drive training and evaluation from code, in one export list.
 *
 *     import { loadRecipe, train, nativeEngines, Policy, GraderPool, evaluate } from 'gtr-rl';
 *     const recipe = loadRecipe('recipes/tiny-gtr-dapo.yaml', ['train.steps=1']);
 *     const summary = await train(recipe, { engines: nativeEngines });
 *
 * See examples/train-tiny.ts for a complete run, docs/GTR.md for the math, and
 * docs/ARCHITECTURE.md for where each piece lives. The native addon (build/Release/gtr_native.node)
 * is loaded on first use, not on import, so importing this module never needs it.
 */

// Recipes: the zod schema (every key's default and doc), YAML loading with `key=value` overrides.
export {
  loadRecipe,
  parseRecipe,
  RecipeError,
  RecipeSchema,
  describeRecipe,
  saveResolvedRecipe,
  type Recipe,
  type RecipeInput,
  type RecipeOverride,
  type RecipeKeyDoc,
} from './recipe/index.js';

// The RL loop (`gtr train`): train() runs or resumes a recipe; nativeEngines binds it to the addon.
export { train, type TrainOptions, type TrainSummary, type EngineFactory } from './rl/loop.js';
export { nativeEngines } from './rl/adapters.js';
export type { TrainerEngine, LossConfig, MiniBatch, PackedTokens, StepMetrics } from './rl/engines.js';
export type { RolloutEngine, GenerateRequest, GeneratedResponse } from './rollout/engine.js';
// Group advantages, DAPO dynamic sampling and overlong shaping (docs/GTR.md "Group advantages").
export {
  computeAdvantages,
  getAdvantageEstimator,
  grpoAdvantages,
  drGrpoAdvantages,
  rlooAdvantages,
  dynamicSamplingFilter,
  overlongPenalty,
  ADVANTAGE_ESTIMATORS,
  GRPO_STD_EPS,
  type AdvantageEstimator,
} from './rl/advantages.js';

// Supervised fine-tuning (`gtr sft`).
export { sftTrain, type SftOptions, type SftSummary } from './sft/train.js';

// The policy model (Qwen3 held by the addon), its tokenizer, random-init presets and sampling.
export { Policy, type PolicyOptions, type SaveOptions } from './policy.js';
export { Tokenizer, type EncodeOptions, type DecodeOptions, type ApplyChatTemplateOptions } from './tokenizer/index.js';
export { presetConfig, QWEN3_PRESETS, type Qwen3PresetName } from './checkpoint/index.js';
// Memory per rank: the planner (`gtr train --dry-run`) and what the addon counts (Policy / Trainer .memory()).
export {
  planMemory,
  planInputFromRecipe,
  formatMemoryPlan,
  fitsDevice,
  parseGpuMemory,
  SHARDING_LEVELS,
  type MemoryPlan,
  type MemoryPlanInput,
  type ShardingLevel,
} from './train/memory-plan.js';
export type { MemoryReport, MemoryReportOptions, MemoryCategory } from './native/types.js';
export { generate, type GenerateOptions, type Rollout } from './rollout/index.js';
// A response's text as the loop decodes it (ids in the model's vocabulary padding are dropped).
export { decodeResponse } from './rollout/prompt.js';

// Evaluation: evaluate() with generation and grading injected; runEvaluation() on a rollout engine
// and the registry benchmarks (what `gtr eval` runs); pass@k / mean@n / maj@n; report writers.
export {
  evaluate,
  passAtK,
  meanAtN,
  majAtN,
  defaultMetrics,
  reportToMarkdown,
  reportToJson,
  writeEvalOutputs,
  loadEvalReport,
  compareReports,
  type EvaluateOptions,
  type EvaluateResult,
  type EvalDeps,
  type BenchmarkInput,
  type BenchmarkRow,
  type GeneratedSample,
  type GradeVerdict,
  type GradeItem as EvalGradeItem,
  type GenerateOptions as EvalGenerateOptions,
  type EvalReport,
  type BenchmarkReport,
  type ProblemResult,
} from './eval/index.js';
export { runEvaluation, evalMetrics, type EvalRunSettings } from './eval/run.js';

// Reward graders: `math` and `dapo`, custom modules, and the worker pool that runs them.
export {
  GraderPool,
  gradeMath,
  gradeDapo,
  graderNames,
  type GraderPoolOptions,
  type GradeItem,
  type GradeResult,
  type GraderFn,
  type GraderSpec,
  type CustomGraderSpec,
  type RewardSpec,
  type WeightedGraderSpec,
} from './grading/index.js';

// Datasets: the registry (datasets/manifest.json), local copies or hub downloads, prompt templates.
export {
  loadDataset,
  fetchDatasets,
  datasetNames,
  buildPrompt,
  TEMPLATE_NAMES,
  type DatasetRow,
  type LoadDatasetOptions,
  type LoadedDataset,
} from './data/index.js';
