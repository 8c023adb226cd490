/**
 * The formatters' check, run in CI with the suite: every tracked TS / JS source is as prettier
 * formats it (.prettierrc.json), every native source as clang-format 18 formats it (.clang-format).
 * `npm run format` rewrites both (scripts/format.mjs).
 */
import { describe, expect, it } from 'vitest';
import { clangFormatBinary, prettierIgnored, runClangFormat, runPrettier, sourceFiles } from '../scripts/format.mjs';

const files = sourceFiles() as { prettier: string[]; clang: string[] };
const clang = clangFormatBinary() as string | null;

describe('source formatting', () => {
  it('.prettierignore leaves out only the deliberately broken fixtures', async () => {
    const ignored = (await prettierIgnored(files.prettier)) as string[];
    expect(ignored.filter((f) => !f.startsWith('test/fixtures/bad-input/'))).toEqual([]);
  });

  it('TS / JS sources are prettier-formatted (npm run format)', async () => {
    expect(files.prettier.length).toBeGreaterThan(100);
    expect(await runPrettier(files.prettier, false)).toEqual([]);
  }, 120_000);

  it.skipIf(!clang)(
    'native sources are clang-format-formatted (npm run format; needs pip clang-format==18.1.8, installed by npm run setup)',
    () => {
      expect(files.clang.length).toBeGreaterThan(20);
      expect(runClangFormat(clang, files.clang, false)).toEqual([]);
    },
    120_000,
  );
});
