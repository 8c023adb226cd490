/**
 * `gtr score --model DIR --text "..." [--json]`: per-token log-probs of a text under a model.
 * With --json: {"tokens": [...ids], "logprobs": [...]}, logprobs[i] = log p(tokens[i] | tokens[<i])
 * for i >= 1 and null at i = 0.
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { checkContextLength, checkModelDir, readQwen3Config, resolveModelPath } from '../../checkpoint/index.js';
import { Policy } from '../../policy.js';
import { Tokenizer } from '../../tokenizer/index.js';
import { parseDTypeFlag } from './init-model.js';

export function register(program: Command): void {
  program
    .command('score')
    .description('per-token log-probs of a text under a model')
    .requiredOption('--model <dir|id>', 'checkpoint directory (HF layout) or hub id owner/name[@revision]')
    .requiredOption('--text <text>', 'the text to score')
    .option('--device <device>', 'cpu, cuda or cuda:N', 'cpu')
    .option('--dtype <dtype>', 'compute dtype: fp32 or bf16')
    .option('--json', 'print JSON')
    .action(async (opts: { model: string; text: string; device: string; dtype?: string; json?: boolean }) => {
      opts.model = await resolveModelPath(opts.model, '--model'); // a hub id: its cached snapshot
      checkModelDir(opts.model, '--model');
      const config = await readQwen3Config(opts.model);
      const tokenizer = await Tokenizer.fromDir(opts.model);
      const tokens = tokenizer.encode(opts.text);
      if (tokens.length === 0) throw new Error('--text encodes to no tokens');
      checkContextLength(tokens.length, 0, config.native.maxPositionEmbeddings, {
        prompt: '--text',
        maxNewTokens: '--text',
        limit: join(opts.model, 'config.json'),
      });
      const policy = await Policy.load(opts.model, {
        device: opts.device,
        dtype: opts.dtype ? parseDTypeFlag(opts.dtype) : undefined,
      });
      try {
        const lp = await policy.score(tokens);
        // JSON has no NaN: it would print as null, the first token's "no value". Say it instead.
        const bad = lp.findIndex((x, i) => i > 0 && !Number.isFinite(x));
        if (bad > 0)
          throw new Error(
            `the log-prob of token ${bad} (id ${tokens[bad]}) is ${lp[bad]}: the model's activations are not finite (try --dtype float32)`,
          );
        const logprobs = Array.from(lp, (x, i) => (i === 0 ? null : x));
        if (opts.json) {
          console.log(JSON.stringify({ tokens, logprobs }));
          return;
        }
        let total = 0;
        tokens.forEach((id, i) => {
          const piece = JSON.stringify(tokenizer.decode([id]));
          const v = logprobs[i];
          if (v !== null) total += v;
          console.log(
            `${String(i).padStart(5)} ${String(id).padStart(7)} ${piece.padEnd(24)} ${v === null ? '     -' : v.toFixed(4)}`,
          );
        });
        console.log(`total log-prob ${total.toFixed(4)} over ${tokens.length - 1} predicted tokens`);
      } finally {
        policy.dispose();
      }
    });
}
