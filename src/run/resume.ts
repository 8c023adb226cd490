/**
 * Opening a run directory for `gtr train` / `gtr sft`, fresh or resumed, so that nothing already
 * there is lost: the directory is locked (./lock.ts), temporaries of a killed writer are
 * cleared, and a resume
 * - keeps resolved.yaml as the run started; a recipe that differs from it (plus the changes
 *   accepted before, recipe-changes.jsonl) is refused when a changed key alters training, unless
 *   --allow-recipe-change, and every accepted change is appended to recipe-changes.jsonl;
 * - continues from the newest complete checkpoint found by scanning checkpoints/ (not `latest`);
 * - moves aside, never deletes, log lines of later steps and checkpoint dirs it cannot use.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { applyRecipeChanges, diffRecipes, type RecipeChange } from '../recipe/diff.js';
import { parseRecipe } from '../recipe/load.js';
import { saveResolvedRecipe } from '../recipe/save.js';
import type { Recipe } from '../recipe/schema.js';
import { RECIPE_FILE, RunDir, type ResumableCheckpoint } from './dir.js';
import { lockRunDir } from './lock.js';

export const RECIPE_CHANGES_FILE = 'recipe-changes.jsonl';

/** One line of recipe-changes.jsonl. */
export interface RecipeChangeRecord {
  time: string;
  /** The run resumed after this step (0: before its first checkpoint). */
  resumed_after_step: number;
  /** 'harmless' when every key is one that leaves training as it was; else the flag that allowed it. */
  accepted: 'harmless' | '--allow-recipe-change';
  changes: RecipeChange[];
}

/** Keys that place, log, evaluate or bound a run without changing what any step trains on. */
const HARMLESS_PREFIXES = ['eval.', 'checkpoint.', 'run.'];
const HARMLESS_KEYS = new Set(['data.data_dir', 'model.device', 'train.max_consecutive_skipped_steps']);

/** Why changing `key` on resume alters training, or undefined when it does not. */
export function trainingImpact(key: string, recipe: Recipe): string | undefined {
  if (HARMLESS_KEYS.has(key) || HARMLESS_PREFIXES.some((p) => key.startsWith(p))) return undefined;
  if (key === 'train.steps')
    return recipe.train.schedule === 'constant'
      ? undefined
      : `train.steps sets the length of the ${recipe.train.schedule} schedule`;
  return 'changes training';
}

const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));

/**
 * Compares `recipe` with the run's own (resolved.yaml plus recipe-changes.jsonl). Nothing is written
 * here: the returned `record` appends the accepted differences to recipe-changes.jsonl, to be called
 * once the resume has loaded its checkpoint (a resume that fails records nothing).
 * @throws Error listing each changed key (old -> new) when one alters training and
 *   `allowRecipeChange` is not set
 */
export function checkResumeRecipe(
  run: RunDir,
  recipe: Recipe,
  step: number,
  allowRecipeChange: boolean,
  log: (line: string) => void,
): { changes: RecipeChange[]; record: () => void } {
  const file = join(run.dir, RECIPE_FILE);
  let original: Recipe;
  try {
    original = parseRecipe(readFileSync(file, 'utf8'), file);
  } catch (e) {
    throw new Error(`--resume: cannot read the recipe ${run.dir} was trained with: ${(e as Error).message}`);
  }
  const changesFile = join(run.dir, RECIPE_CHANGES_FILE);
  const past: RecipeChange[] = [];
  if (existsSync(changesFile)) {
    for (const l of readFileSync(changesFile, 'utf8').split('\n')) {
      if (!l.trim()) continue;
      try {
        past.push(...(JSON.parse(l) as RecipeChangeRecord).changes);
      } catch {
        // A line cut short by a kill: its changes count as new again, so they are checked again.
        log(`warning: ${RECIPE_CHANGES_FILE}: ignoring an unreadable line: ${l.slice(0, 80)}`);
      }
    }
  }
  const current = applyRecipeChanges(original, past);
  const changes = diffRecipes(current, recipe);
  if (changes.length === 0) return { changes, record: () => {} };
  const impact = changes.map((c) => ({ c, why: trainingImpact(c.key, recipe) }));
  const lines = impact.map(({ c, why }) => `  ${c.key}: ${show(c.from)} -> ${show(c.to)}${why ? ` (${why})` : ''}`);
  const altering = impact.some((x) => x.why !== undefined);
  if (altering && !allowRecipeChange) {
    throw new Error(
      `--resume: the recipe differs from the one ${run.dir} was trained with (${RECIPE_FILE}${past.length ? ` + ${RECIPE_CHANGES_FILE}` : ''}):\n${lines.join('\n')}\n` +
        `Resume with the run's recipe (gtr train ${file} --resume${past.length ? ', with the --set values recorded in ' + RECIPE_CHANGES_FILE : ''}), ` +
        `or pass --allow-recipe-change to continue with the new values (recorded in ${changesFile}).`,
    );
  }
  const record: RecipeChangeRecord = {
    time: new Date().toISOString(),
    resumed_after_step: step,
    accepted: altering ? '--allow-recipe-change' : 'harmless',
    changes,
  };
  log(
    `recipe changes accepted on resume (recorded in ${RECIPE_CHANGES_FILE} once it has loaded):\n${lines.join('\n')}`,
  );
  return { changes, record: () => appendFileSync(changesFile, `${JSON.stringify(record)}\n`) };
}

/** An opened run directory (hold it until the run ends, then call release). */
export interface OpenedRun {
  run: RunDir;
  /** Releases the run-directory lock (idempotent). */
  release: () => void;
  /** The checkpoint a resume continues from; undefined for a fresh run or one with no checkpoint yet. */
  resumeFrom?: ResumableCheckpoint;
  /** Appends the recipe changes a resume accepted to recipe-changes.jsonl: call once it has loaded. */
  recordRecipeChanges?: () => void;
}

/**
 * Locks and prepares `recipe.run.dir`. Fresh: the directory must not hold a run; resolved.yaml is
 * written. Resume: see the module doc.
 * @throws Error naming the directory when it holds no run to resume / already holds one, when
 *   another process holds it (./lock.ts), or as {@link checkResumeRecipe}; the lock is
 *   released before throwing
 */
export function openRun(
  recipe: Recipe,
  opts: { resume?: boolean; allowRecipeChange?: boolean; log: (line: string) => void },
): OpenedRun {
  const run = new RunDir(resolve(recipe.run.dir));
  const log = opts.log;
  if (opts.resume && !existsSync(join(run.dir, RECIPE_FILE)))
    throw new Error(`--resume: ${run.dir} holds no run to resume (no ${RECIPE_FILE})`);
  const release = lockRunDir(run.dir, log);
  try {
    const rel = (p: string) => relative(run.dir, p);
    const stale = run.removeStaleTemporaries();
    if (stale.length) log(`cleared ${stale.length} temporaries of an interrupted write: ${stale.map(rel).join(', ')}`);
    if (!opts.resume) {
      run.startFresh(log);
      saveResolvedRecipe(recipe, run.dir);
      return { run, release };
    }
    const resumeFrom = run.latestResumable();
    const step = resumeFrom?.step ?? 0;
    const { record } = checkResumeRecipe(run, recipe, step, opts.allowRecipeChange === true, log);
    for (const c of run.checkpoints()) {
      if (c.step > step)
        log(`${rel(c.dir)} cannot be resumed from (${run.whyNotResumable(c.dir, c.step)}); moving it aside`);
    }
    for (const p of run.setAsideCheckpointsAfter(step)) log(`  kept as ${rel(p)}`);
    for (const p of run.setAsideLogsAfter(step)) log(`log lines after step ${step} moved to ${rel(p)}`);
    log(
      resumeFrom
        ? `resuming ${run.dir} after step ${step} (${rel(resumeFrom.dir)})`
        : `resuming ${run.dir}: no complete checkpoint yet, starting from step 1`,
    );
    return { run, release, resumeFrom, recordRecipeChanges: record };
  } catch (e) {
    release();
    throw e;
  }
}
