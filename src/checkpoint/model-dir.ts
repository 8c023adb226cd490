/**
 * Checking a model directory argument (`--model`, `model.path`, `model.tokenizer`) before anything
 * reads it, so a wrong path is reported as such, in the user's flag or key, rather than as the first
 * file some loader misses ("tokenizer.json not found", ENOTDIR).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';

/** True for a string shaped like a Hugging Face hub model id (`org/name`), not a path. */
export function looksLikeHubId(p: string): boolean {
  if (!/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(p) || p.startsWith('.') || p.includes('..')) return false;
  // `runs/...` is where this project writes (the tiny recipes' `runs/tiny-model`), and a first part
  // that exists here is a local folder: neither is a hub organisation.
  const first = p.split('/')[0]!;
  return first !== 'runs' && !existsSync(first);
}

/**
 * Checks that `dir` is an existing, non-empty directory holding `config.json` (or, with
 * `tokenizerOnly`, `tokenizer.json`).
 * @param what the flag or recipe key the path came from (`--model`, `model.path`), named in errors
 * @throws Error `<what>: model directory not found: <abs path>` (with how to get a hub model when
 *   the path looks like `org/name`: this project reads local directories only and downloads no
 *   model), `<what>: <path> is not a directory`, `... is empty`, or `... holds no config.json`.
 */
export function checkModelDir(dir: string, what: string, options: { tokenizerOnly?: boolean } = {}): void {
  const abs = resolve(dir);
  let st;
  try {
    st = statSync(abs);
  } catch {
    if (looksLikeHubId(dir)) {
      throw new Error(
        `${what}: model directory not found: ${abs}, and "${dir}" was not resolved as a Hugging Face hub id; ` +
          `download it with \`gtr download ${dir}\` and give the directory it prints`,
      );
    }
    throw new Error(
      `${what}: model directory not found: ${abs} (give an HF-layout checkpoint directory, or make a random tiny model there with \`gtr init-model --config tiny --out ${dir}\`)`,
    );
  }
  if (!st.isDirectory())
    throw new Error(
      `${what}: ${abs} is not a directory (a model directory holds config.json, *.safetensors and the tokenizer files)`,
    );
  const entries = readdirSync(abs);
  if (entries.length === 0) throw new Error(`${what}: model directory ${abs} is empty`);
  const need = options.tokenizerOnly ? 'tokenizer.json' : 'config.json';
  if (!entries.includes(need)) throw new Error(`${what}: ${abs} is not a model directory: it holds no ${need}`);
}
