/**
 * Loading a recipe: YAML (positions kept) + `--set key.path=value` overrides -> validated,
 * fully resolved {@link Recipe}. Every error names where it came from:
 * `recipes/x.yaml:12: train.lr: expected number, received string`, or
 * `--set train.lr=abc: train.lr: expected number, received string` for an override.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isMap, isScalar, LineCounter, parse as parseYaml, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { checkKeyPath, didYouMean, keysAt } from './keys.js';
import { RecipeSchema, type Recipe } from './schema.js';
import { scheduleKeyPath } from './schedule.js';

/** A recipe that failed to load; `problems` holds one located message per problem. */
export class RecipeError extends Error {
  readonly problems: string[];
  /** @param problems located messages (`file:line: key.path: what`) */
  constructor(problems: string[]) {
    super(problems.length === 1 ? `invalid recipe: ${problems[0]}` : `invalid recipe:\n  ${problems.join('\n  ')}`);
    this.name = 'RecipeError';
    this.problems = problems;
  }
}

/** One parsed `--set` override. */
export interface RecipeOverride {
  /** The argument as given, e.g. `train.lr=2e-6`. */
  text: string;
  path: string[];
  value: unknown;
}

/**
 * Parses `key.path=value`. The value is read as a YAML scalar or flow collection (numbers,
 * booleans, null, strings, `[1, 4]` lists); text YAML cannot parse is taken as a plain string.
 * @throws RecipeError on a missing `=`, an empty key segment or a key the schema does not have
 */
export function parseOverride(text: string): RecipeOverride {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new RecipeError([`--set ${text}: expected key.path=value`]);
  const path = text.slice(0, eq).trim().split('.');
  if (path.some((p) => p === '')) throw new RecipeError([`--set ${text}: empty segment in key path`]);
  const unknown = checkKeyPath(RecipeSchema, path);
  if (unknown) throw new RecipeError([`--set ${text}: ${unknown}`]);
  const raw = text.slice(eq + 1);
  let value: unknown;
  try {
    value = parseYaml(raw);
  } catch {
    value = raw;
  }
  return { text, path, value };
}

function lineOf(node: Node | null | undefined, lc: LineCounter): number | undefined {
  const start = node?.range?.[0];
  return start === undefined ? undefined : lc.linePos(start).line;
}

/** Line of the YAML node at `path`, or of its nearest ancestor that exists in the file. */
function lineAt(doc: Document, lc: LineCounter, path: PropertyKey[], key?: string): number {
  for (let n = path.length; n >= 0; n--) {
    const sub = path.slice(0, n);
    const node = (sub.length === 0 ? doc.contents : doc.getIn(sub, true)) as Node | null | undefined;
    if (key !== undefined && n === path.length && isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
      const l = lineOf(pair?.key as Node | undefined, lc);
      if (l !== undefined) return l;
    }
    const l = lineOf(node, lc);
    if (l !== undefined) return l;
  }
  return 1;
}

function cleanMessage(msg: string): string {
  return msg.replace(/^Invalid (input|option): /, '');
}

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_union') {
    const alts = issue.errors.map((errs) => {
      const e = errs[0];
      if (!e) return 'valid input';
      return e.path.length ? `${e.path.join('.')}: ${cleanMessage(e.message)}` : cleanMessage(e.message);
    });
    return `invalid value (${alts.join('; or ')})`;
  }
  return cleanMessage(issue.message);
}

const isPrefix = (a: PropertyKey[], b: PropertyKey[]) =>
  a.length <= b.length && a.every((x, i) => String(x) === String(b[i]));

function locate(
  issue: z.core.$ZodIssue,
  source: string,
  doc: Document,
  lc: LineCounter,
  overrides: RecipeOverride[],
): string[] {
  const entries: { path: PropertyKey[]; msg: string; key?: string }[] =
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((k) => ({
          path: [...issue.path, k],
          key: k,
          msg: `unknown key${didYouMean(k, keysAt(RecipeSchema, issue.path.map(String)) ?? [])} (valid keys${issue.path.length ? ` under ${issue.path.join('.')}` : ''}: ${validKeys(issue.path)})`,
        }))
      : [{ path: issue.path, msg: issueMessage(issue) }];
  return entries.map(({ path, msg, key }) => {
    const keyPath = path.length
      ? (scheduleKeyPath(path, (i) => doc.getIn(['data', 'schedule', i, 'name'])) ?? path.map(String).join('.'))
      : '(root)';
    const ov = [...overrides]
      .reverse()
      .find((o) => path.length > 0 && (isPrefix(o.path, path) || isPrefix(path, o.path)));
    if (ov) return `--set ${ov.text}: ${keyPath}: ${msg}`;
    const line = key !== undefined ? lineAt(doc, lc, path.slice(0, -1), key) : lineAt(doc, lc, path);
    return `${source}:${line}: ${keyPath}: ${msg}`;
  });
}

function validKeys(path: PropertyKey[]): string {
  return (keysAt(RecipeSchema, path.map(String)) ?? []).join(', ');
}

/**
 * Validates recipe text.
 * @param text YAML text (an empty text means all defaults)
 * @param source name used in messages (the file path)
 * @param overrides `key.path=value` strings, applied in order before validation
 * @param baseDir folder that relative custom-grader `module:` paths written in the text resolve
 *   against (loadRecipe: the recipe file's folder); paths given by `--set` stay relative to the
 *   current directory. Unset: left as written.
 * @returns the resolved recipe, every default filled
 * @throws RecipeError listing every problem with its file:line (or override) and key path
 */
export function parseRecipe(text: string, source: string, overrides: string[] = [], baseDir?: string): Recipe {
  const lc = new LineCounter();
  // merge: YAML merge keys (`<<: *anchor`, YAML 1.1, which most YAML users expect) are resolved.
  const doc: Document = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, merge: true });
  if (doc.errors.length > 0) {
    throw new RecipeError(
      doc.errors.map((e) => `${source}:${lc.linePos(e.pos[0]).line}: YAML syntax error: ${e.message.split('\n')[0]}`),
    );
  }
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null))
    doc.contents = doc.createNode({});
  if (!isMap(doc.contents))
    throw new RecipeError([`${source}:${lineOf(doc.contents, lc) ?? 1}: a recipe must be a mapping of sections`]);

  if (baseDir !== undefined) resolveGraderModules(doc, baseDir);
  const parsed = overrides.map(parseOverride);
  for (const o of parsed) {
    try {
      doc.setIn(o.path, doc.createNode(o.value));
    } catch (e) {
      throw new RecipeError([
        `--set ${o.text}: cannot set ${o.path.join('.')} (${(e as Error).message.split('\n')[0]})`,
      ]);
    }
  }
  let js: unknown;
  try {
    js = doc.toJS();
  } catch (e) {
    // e.g. a merge key (<<) whose value is not a mapping or an alias of one
    throw new RecipeError([`${source}: ${(e as Error).message}`]);
  }
  const res = RecipeSchema.safeParse(js);
  if (res.success) return res.data;
  throw new RecipeError(res.error.issues.flatMap((i) => locate(i, source, doc, lc, parsed)));
}

/**
 * Loads a recipe file and applies `--set` overrides.
 * @param path YAML file; null = start from the defaults
 * @param overrides `key.path=value` strings (e.g. `train.lr=2e-6`, `eval.k=[1,8]`)
 * @returns the fully resolved recipe
 * @throws RecipeError naming file:line (or the override) and key path of every problem
 */
export function loadRecipe(path: string | null, overrides: string[] = []): Recipe {
  if (path === null) return parseRecipe('', '(defaults)', overrides);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new RecipeError([`${path}: cannot read recipe: ${(e as Error).message}`]);
  }
  return parseRecipe(text, path, overrides, dirname(resolve(path)));
}

/**
 * Rewrites each relative custom-grader `module:` of the document (reward.grader,
 * reward.graders[i].grader, data.schedule[i].grader) to an absolute path under `baseDir`, so a
 * recipe names its grader beside itself and runs from any directory.
 */
function resolveGraderModules(doc: Document, baseDir: string): void {
  const js = (doc.toJS() ?? {}) as Record<string, unknown>;
  const at = (o: unknown, ...keys: (string | number)[]): unknown =>
    keys.reduce<unknown>(
      (v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined),
      o,
    );
  const paths: (string | number)[][] = [['reward', 'grader']];
  const list = (p: (string | number)[]) => {
    const v = at(js, ...p);
    return Array.isArray(v) ? v.map((_, i) => [...p, i, 'grader']) : [];
  };
  paths.push(...list(['reward', 'graders']), ...list(['data', 'schedule']));
  for (const p of paths) {
    const m = at(js, ...p, 'module');
    if (typeof m === 'string' && m !== '' && !isAbsolute(m)) doc.setIn([...p, 'module'], resolve(baseDir, m));
  }
}
