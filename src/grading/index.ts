/**
 * Reward graders: `math`, `dapo` and `math_verify` (Python), custom grader modules, and the worker
 * pools that run them.
 */
export type {
  CustomGraderSpec,
  GradeItem,
  GradeResult,
  GraderFn,
  GraderSpec,
  RewardSpec,
  WeightedGraderSpec,
  WeightedPart,
} from './types.js';
export { isWeighted } from './types.js';
export { combineWeighted, gradeMetrics, partName } from './weighted.js';
export {
  answerInSentence,
  extractAnswerLoose,
  extractFinalAnswer,
  finalBoxed,
  lastAnswerLine,
  lastBoxed,
  proseAnswer,
} from './extract.js';
export { normalizeAnswer, squash, isTextAnswer } from './normalize-math.js';
export { normalizeDapoAnswer } from './normalize-dapo.js';
export { answersEquivalent, percentQuestion, type EquivalenceOptions } from './equivalence.js';
export { closeEnough, parsePlainNumber, valuesEqual, DEFAULT_TOLERANCE, type Tolerance } from './numeric.js';
export { gradeMath, mathGrader, goldAnswer, rowTolerance } from './math-grader.js';
export { gradeDapo, dapoGrader, DAPO_TAIL_CHARS } from './dapo-grader.js';
export { getGrader, graderNames, isGraderName, unknownGraderError, type GraderEntry } from './registry.js';
export { loadBatchedGrader, loadCustomGrader, parseGraderSpec, toGradeResult, customLabel } from './custom.js';
export { GraderPool, DEFAULT_GRADER_MEMORY_MB, type GraderPoolOptions } from './pool.js';
export { graderRow } from './row.js';
export {
  PythonGraderPool,
  mathVerifyAvailable,
  MATH_VERIFY_GRADER,
  MATH_VERIFY_VERSION,
  type PythonGraderPoolOptions,
} from './python-pool.js';
