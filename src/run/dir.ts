/**
 * The run directory of `gtr train`: resolved.yaml (the recipe after defaults and overrides, as the
 * run started), recipe-changes.jsonl (changes accepted on resume), metrics.jsonl (one line per
 * step), samples.jsonl (a few decoded responses per step), checkpoints/step-N/ (policy in the HF
 * layout + trainer state + loop state), and latest (a text file naming the newest complete
 * checkpoint, relative to the run directory, for people and scripts). A directory that already
 * holds a run is never overwritten: starting fresh there is an error unless --resume is given.
 *
 * The checkpoints themselves are the truth about where a run stands: every step-N directory is
 * renamed into place only once complete (saveCheckpointAtomic), so resuming scans checkpoints/
 * rather than trusting `latest`, which survives moving the run directory and a deleted `latest`.
 */
import {
  appendFileSync,
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { MAX_HEADER_BYTES, validateHeader } from '../checkpoint/safetensors.js';
import { writeFileAtomicSync } from '../checkpoint/save.js';

/**
 * Why a safetensors file cannot be read whole (cut short by a full disk or a copy that stopped, a
 * damaged header), or undefined: its header is read and every tensor's bytes must lie in the file.
 */
function safetensorsProblem(file: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    if (size < 8) return `${size} bytes, shorter than a safetensors header`;
    const len = Buffer.alloc(8);
    readSync(fd, len, 0, 8, 0);
    const n = len.readBigUInt64LE(0);
    if (n > BigInt(MAX_HEADER_BYTES) || 8 + Number(n) > size) return `its header runs past the end (${size} bytes)`;
    const header = Buffer.alloc(Number(n));
    readSync(fd, header, 0, header.length, 8);
    validateHeader(file, header, size);
    return undefined;
  } catch (e) {
    return (e as Error).message.replace(`${file}: `, '');
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export const RECIPE_FILE = 'resolved.yaml';
export const METRICS_FILE = 'metrics.jsonl';
export const SAMPLES_FILE = 'samples.jsonl';
export const LATEST_FILE = 'latest';
export const CHECKPOINTS_DIR = 'checkpoints';
/** The loop state of a checkpoint: `{step, sampler}`. */
export const LOOP_STATE_FILE = 'loop-state.json';
/** The trainer's state of a checkpoint: a directory (optimizer.safetensors, trainer_state.json). */
export const TRAINER_STATE_DIR = 'trainer.state';
/**
 * A sharded trainer state's file of rank `rank` of `worldSize` (train.sharding: optimizer), inside
 * TRAINER_STATE_DIR: that rank's shards of the AdamW moments (and fp32 masters), the layout in its
 * safetensors metadata. trainer_state.json's `sharding.worldSize` says how many there are.
 */
export const shardStateFile = (rank: number, worldSize: number): string =>
  `optimizer.rank-${String(rank).padStart(5, '0')}-of-${String(worldSize).padStart(5, '0')}.safetensors`;

/** A checkpoint the RL loop can resume from. */
export interface ResumableCheckpoint {
  step: number;
  /** Absolute path of checkpoints/step-N. */
  dir: string;
  /** The parsed loop-state.json (`step` equals the directory's step). */
  state: { step: number; sampler: unknown };
}

/** A committed checkpoint directory name: step-N (no .tmp- / .old- suffix). */
const STEP_DIR = /^step-(\d+)$/;
/** A checkpoint directory a resume set aside (./resume.ts): step-N.unused-<time>. */
const UNUSED_DIR = /^step-(\d+)\.unused-/;
/**
 * Temporaries of an atomic write (src/checkpoint/save.ts: `X.tmp-<pid>...` for files and checkpoint
 * directories); `X.<pid>.tmp` and `latest.tmp` are the names earlier versions used, still cleared so
 * that a run killed by one resumes cleanly; `step-N.shards` is the staging folder of a sharded
 * checkpoint's rank files (src/rl/loop.ts) that a killed run left before rank 0 committed them.
 */
const TEMPORARY = /\.tmp-\d+|\.\d+\.tmp$|^latest\.tmp$|^step-\d+\.shards$/;
/** The backup an atomic replace keeps between its two renames (saveCheckpointAtomic). */
const BACKUP = /^(.*)\.old-\d+-[0-9a-f]+$/;

const timestamp = () => new Date().toISOString().replace(/[:.]/g, '-');

export class RunDir {
  constructor(readonly dir: string) {}

  /** True when a run was started here (its resolved recipe exists). */
  holdsRun(): boolean {
    return existsSync(join(this.dir, RECIPE_FILE));
  }

  /**
   * True when a run here got past its start: a metrics line, a sample or a checkpoint exists. A
   * run that failed before finishing step 1 (a missing dataset, a bad model file) leaves only
   * resolved.yaml, and does not count.
   */
  hasProgress(): boolean {
    const nonEmpty = (f: string) => {
      try {
        return readFileSync(join(this.dir, f), 'utf8').trim() !== '';
      } catch {
        return false;
      }
    };
    return nonEmpty(METRICS_FILE) || nonEmpty(SAMPLES_FILE) || this.checkpoints().length > 0;
  }

  /**
   * Prepares the directory for a fresh run. The resolved.yaml of an earlier attempt that stopped
   * before step 1 completed is replaced (so fixing the cause and re-running works as pasted).
   * @param log where the replacement is reported
   * @throws Error when it already holds a run that made progress (naming --resume and the directory).
   */
  startFresh(log?: (line: string) => void): void {
    if (this.holdsRun()) {
      if (this.hasProgress())
        throw new Error(
          `${this.dir} already holds a run (${RECIPE_FILE} exists): pass --resume to continue it, or choose another run.dir`,
        );
      log?.(
        `${this.dir}: the earlier run there stopped before completing step 1 (no metrics, no checkpoint); starting afresh`,
      );
      rmSync(join(this.dir, RECIPE_FILE));
    }
    mkdirSync(join(this.dir, CHECKPOINTS_DIR), { recursive: true });
  }

  appendMetrics(row: Record<string, unknown>): void {
    appendFileSync(join(this.dir, METRICS_FILE), `${JSON.stringify(row)}\n`);
  }

  /**
   * True when metrics.jsonl holds an evaluation row (`kind: 'eval'`, a result or a failure) for
   * `step`: an evaluation killed before it finished left none.
   */
  hasEvalRow(step: number): boolean {
    const f = join(this.dir, METRICS_FILE);
    if (!existsSync(f)) return false;
    return readFileSync(f, 'utf8')
      .split('\n')
      .some((l) => {
        try {
          const r = JSON.parse(l) as { kind?: unknown; step?: unknown };
          return r.kind === 'eval' && r.step === step;
        } catch {
          return false;
        }
      });
  }

  appendSamples(rows: Record<string, unknown>[]): void {
    if (rows.length === 0) return;
    appendFileSync(join(this.dir, SAMPLES_FILE), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  }

  /** Path of the checkpoint directory for a step. */
  checkpointDir(step: number): string {
    return join(this.dir, CHECKPOINTS_DIR, `step-${String(step).padStart(6, '0')}`);
  }

  /**
   * Marks a fully written checkpoint as the latest (a small file written atomically; the path is
   * relative to the run dir).
   */
  markLatest(step: number): void {
    writeFileAtomicSync(join(this.dir, LATEST_FILE), `${CHECKPOINTS_DIR}/step-${String(step).padStart(6, '0')}\n`);
  }

  /** The committed step-N checkpoint directories, oldest first. */
  checkpoints(): { step: number; dir: string }[] {
    const root = join(this.dir, CHECKPOINTS_DIR);
    if (!existsSync(root)) return [];
    return readdirSync(root)
      .map((d) => ({ m: STEP_DIR.exec(d), d }))
      .filter((x) => x.m !== null)
      .map((x) => ({ step: Number(x.m![1]), dir: join(root, x.d) }))
      .sort((a, b) => a.step - b.step);
  }

  /**
   * Why a checkpoint directory cannot be resumed from, or undefined when it can: it needs
   * loop-state.json (naming the same step), trainer.state and policy/config.json, and every
   * safetensors file of the policy and the trainer state whole (a truncated one is as unusable as a
   * missing one, so both make the resume fall back to the previous complete checkpoint).
   */
  whyNotResumable(dir: string, step: number): string | undefined {
    for (const f of [TRAINER_STATE_DIR, join('policy', 'config.json'), LOOP_STATE_FILE]) {
      if (!existsSync(join(dir, f))) return `${f} is missing`;
    }
    for (const sub of ['policy', TRAINER_STATE_DIR]) {
      const d = join(dir, sub);
      if (!statSync(d).isDirectory()) continue;
      for (const f of readdirSync(d)
        .filter((x) => x.endsWith('.safetensors'))
        .sort()) {
        const why = safetensorsProblem(join(d, f));
        if (why) return `${sub}/${f} is damaged: ${why}`;
      }
    }
    // A sharded trainer state needs every rank's file.
    try {
      const t = JSON.parse(readFileSync(join(dir, TRAINER_STATE_DIR, 'trainer_state.json'), 'utf8')) as {
        sharding?: { worldSize?: number };
      };
      const w = t.sharding?.worldSize;
      for (let r = 0; typeof w === 'number' && r < w; r++)
        if (!existsSync(join(dir, TRAINER_STATE_DIR, shardStateFile(r, w))))
          return `${TRAINER_STATE_DIR}/${shardStateFile(r, w)} is missing`;
    } catch {
      // an unreadable trainer_state.json is reported by the trainer's load, naming it
    }
    try {
      const s = JSON.parse(readFileSync(join(dir, LOOP_STATE_FILE), 'utf8')) as { step?: unknown };
      if (s.step !== step) return `${LOOP_STATE_FILE} names step ${String(s.step)}`;
    } catch (e) {
      return `${LOOP_STATE_FILE} is unreadable (${(e as Error).message})`;
    }
    return undefined;
  }

  /** The newest checkpoint the RL loop can resume from (a scan of checkpoints/), or undefined. */
  latestResumable(): ResumableCheckpoint | undefined {
    for (const c of this.checkpoints().reverse()) {
      if (this.whyNotResumable(c.dir, c.step) !== undefined) continue;
      const state = JSON.parse(readFileSync(join(c.dir, LOOP_STATE_FILE), 'utf8')) as ResumableCheckpoint['state'];
      return { step: c.step, dir: c.dir, state };
    }
    return undefined;
  }

  /** The newest complete checkpoint directory (absolute), or undefined. */
  latest(): string | undefined {
    return this.latestResumable()?.dir ?? this.checkpoints().at(-1)?.dir;
  }

  /**
   * Deletes all but the `keep` newest checkpoints (never the one a resume would use), and the
   * checkpoints an earlier resume set aside (`step-N.unused-<time>`) once the run has saved step N
   * again: the redone step supersedes them, and keeping them would make checkpoint.keep_last need
   * room for more checkpoints than it says.
   * @returns the set-aside directories deleted
   */
  prune(keep: number): string[] {
    const latest = this.latestResumable();
    const dirs = this.checkpoints();
    for (const c of dirs.slice(0, Math.max(0, dirs.length - keep))) {
      if (c.dir !== latest?.dir) rmSync(c.dir, { recursive: true, force: true });
    }
    const removed: string[] = [];
    for (const u of this.setAside()) {
      if (latest && u.step <= latest.step) {
        rmSync(u.dir, { recursive: true, force: true });
        removed.push(u.dir);
      }
    }
    return removed;
  }

  /** The checkpoint directories set aside by resumes (`step-N.unused-<time>`), oldest step first. */
  setAside(): { step: number; dir: string }[] {
    const root = join(this.dir, CHECKPOINTS_DIR);
    if (!existsSync(root)) return [];
    return readdirSync(root)
      .map((d) => ({ m: UNUSED_DIR.exec(d), d }))
      .filter((x) => x.m !== null)
      .map((x) => ({ step: Number(x.m![1]), dir: join(root, x.d) }))
      .sort((a, b) => a.step - b.step);
  }

  /**
   * Clears what a killed process (SIGKILL, power loss) left behind: the temporaries of atomic
   * writes (`*.tmp-<pid>...`; earlier versions' `latest.tmp`, `resolved.yaml.<pid>.tmp`) are removed; the backup an
   * atomic replace keeps between its two renames (`X.old-<pid>-<hex>`) is put back as X when X is
   * missing (it is the complete old version), else removed. Call only while holding the run lock
   * (./lock.ts), so that no live writer owns them.
   * @returns the paths removed or restored, for the log
   */
  removeStaleTemporaries(): string[] {
    const done: string[] = [];
    for (const parent of [this.dir, join(this.dir, CHECKPOINTS_DIR)]) {
      if (!existsSync(parent)) continue;
      for (const name of readdirSync(parent)) {
        const p = join(parent, name);
        const backup = BACKUP.exec(name);
        if (backup) {
          const original = join(parent, backup[1]!);
          if (existsSync(original)) rmSync(p, { recursive: true, force: true });
          else renameSync(p, original);
          done.push(p);
        } else if (TEMPORARY.test(name)) {
          rmSync(p, { recursive: true, force: true });
          done.push(p);
        }
      }
    }
    return done;
  }

  /**
   * Moves aside checkpoint directories newer than `step` (ones the resume cannot use, e.g. missing
   * loop-state.json), so that resuming never overwrites them: step-N becomes step-N.unused-<time>.
   * @returns the new paths
   */
  setAsideCheckpointsAfter(step: number): string[] {
    const moved: string[] = [];
    for (const c of this.checkpoints()) {
      if (c.step <= step) continue;
      const to = `${c.dir}.unused-${timestamp()}`;
      renameSync(c.dir, to);
      moved.push(to);
    }
    return moved;
  }

  /**
   * Aligns metrics.jsonl and samples.jsonl with a resume after `step`: lines of steps <= `step`
   * stay; the others (later steps, and a line cut short by a kill) are moved, never deleted, to
   * `<name>.after-step-<step>.<time>.jsonl` beside the log. Each file is rewritten atomically after
   * its moved lines are on disk. Evaluation reports of later steps (eval/step-N.json) are renamed
   * to eval/step-N.after-step-<step>.<time>.json, so the redone step cannot overwrite them.
   * @returns the files the moved lines and reports went to
   */
  setAsideLogsAfter(step: number): string[] {
    const moved: string[] = [];
    for (const name of [METRICS_FILE, SAMPLES_FILE]) {
      const f = join(this.dir, name);
      if (!existsSync(f)) continue;
      const keep: string[] = [];
      const aside: string[] = [];
      for (const l of readFileSync(f, 'utf8').split('\n')) {
        if (!l.trim()) continue;
        let s: unknown;
        try {
          s = (JSON.parse(l) as { step?: unknown }).step;
        } catch {
          s = undefined;
        }
        (typeof s === 'number' && s <= step ? keep : aside).push(l);
      }
      if (aside.length === 0) continue;
      const to = join(this.dir, `${name.replace(/\.jsonl$/, '')}.after-step-${step}.${timestamp()}.jsonl`);
      writeFileAtomicSync(to, aside.join('\n') + '\n'); // durable before the lines leave the log
      writeFileAtomicSync(f, keep.length ? keep.join('\n') + '\n' : '');
      moved.push(to);
    }
    const evalDir = join(this.dir, 'eval');
    for (const name of existsSync(evalDir) ? readdirSync(evalDir) : []) {
      const m = /^step-(\d+)\.json$/.exec(name);
      if (!m || Number(m[1]) <= step) continue;
      const to = join(evalDir, `step-${m[1]}.after-step-${step}.${timestamp()}.json`);
      renameSync(join(evalDir, name), to);
      moved.push(to);
    }
    return moved;
  }
}
