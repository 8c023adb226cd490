/**
 * The `gtr` command line. Each command lives in its own file under ./commands/ and exports
 * `register(program: Command): void`; this file discovers them, so adding a command is adding a file.
 */
import { Command } from 'commander';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(here, '..', '..', 'package.json'), 'utf8'));
  return pkg.version as string;
}

/** Builds the commander program with every command found in ./commands (sorted by file name). */
export async function buildProgram(): Promise<Command> {
  const program = new Command('gtr')
    .description('GTR-RL: GRPO and Gaussian Trust Region RL for reasoning, on a libtorch policy engine')
    .version(packageVersion())
    .showHelpAfterError();
  const dir = join(here, 'commands');
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(ext) && !f.endsWith('.d.ts'))
    .sort();
  for (const f of files) {
    const mod = await import(pathToFileURL(join(dir, f)).href);
    if (typeof mod.register !== 'function') throw new Error(`CLI command module ${f} exports no register()`);
    mod.register(program);
  }
  return program;
}

/** Entry point: parses argv (as process.argv) and runs the chosen command. */
export async function main(argv: string[]): Promise<void> {
  const program = await buildProgram();
  await program.parseAsync(argv);
}
