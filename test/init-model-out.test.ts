// `gtr init-model --out` never replaces what is there without --force (issue 19, item 2): a
// directory holding files (a trained checkpoint, say) or a regular file is refused, untouched; an
// empty or missing directory is written; --force replaces.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gtr } from './helpers/cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'gtr-init-out-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const init = (out: string, ...extra: string[]) =>
  gtr(['init-model', '--config', 'tiny', '--seed', '1', '--out', out, ...extra]);

describe('gtr init-model --out', () => {
  it('refuses a non-empty directory and a file unless --force', async () => {
    const dir = join(scratch, 'trained');
    mkdirSync(dir);
    writeFileSync(join(dir, 'model.safetensors'), 'weights of a week of training');
    await expect(init(dir)).rejects.toThrow(
      /--out .*trained: the directory is not empty \(model\.safetensors\); pass --force to replace it/,
    );
    expect(readFileSync(join(dir, 'model.safetensors'), 'utf8')).toBe('weights of a week of training');

    const file = join(scratch, 'notes.txt');
    writeFileSync(file, 'mine');
    await expect(init(file)).rejects.toThrow(/--out .*notes\.txt: a file exists there; pass --force/);
    expect(readFileSync(file, 'utf8')).toBe('mine');

    await init(file, '--force');
    expect(existsSync(join(file, 'config.json'))).toBe(true);
    await init(dir, '--force');
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).model_type).toBe('qwen3');
    expect(readFileSync(join(dir, 'model.safetensors')).length).toBeGreaterThan(1_000_000);
  });

  it('writes into an empty or missing directory', async () => {
    mkdirSync(join(scratch, 'empty'));
    await init(join(scratch, 'empty'));
    await init(join(scratch, 'new', 'nested'));
    expect(existsSync(join(scratch, 'empty', 'config.json'))).toBe(true);
    expect(existsSync(join(scratch, 'new', 'nested', 'config.json'))).toBe(true);
  });
});
