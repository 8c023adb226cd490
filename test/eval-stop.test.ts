// Evaluation ends responses at rollout.stop as training does (src/rollout/prompt.ts responseText):
// the engine is asked for the stop strings, and a response that ended on one is graded without it.
// A scripted engine answers "Answer: 1\nEND\nAnswer: 2": cut at "\nEND" it is right, uncut it is wrong.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { presetConfig } from '../src/checkpoint/index.js';
import { runEvaluation, type EvalRunSettings } from '../src/eval/run.js';
import { Policy } from '../src/policy.js';
import type { GenerateRequest, RolloutEngine } from '../src/rollout/engine.js';
import { Tokenizer } from '../src/tokenizer/index.js';

const scratch = mkdtempSync(join(tmpdir(), 'gtr-eval-stop-'));
let tok: Tokenizer;
beforeAll(async () => {
  const p = await Policy.random(presetConfig('tiny'), 1);
  await p.save(join(scratch, 'model'));
  p.dispose();
  tok = await Tokenizer.fromDir(join(scratch, 'model'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function scripted(): RolloutEngine & { requests: GenerateRequest[] } {
  const requests: GenerateRequest[] = [];
  return {
    requests,
    async generate(prompts, r) {
      requests.push(r);
      const tokens = Int32Array.from(tok.encode('Answer: 1\nEND\nAnswer: 2'));
      return prompts.map(() =>
        Array.from({ length: r.n }, () => ({
          tokens,
          logprobs: new Float32Array(tokens.length),
          finishReason: 'stop' as const,
        })),
      );
    },
  };
}

const settings = (stopStrings?: string[]): EvalRunSettings => ({
  benchmarks: ['b'],
  preloaded: [{ name: 'b', rows: [{ id: 'p1', problem: 'One?', answer: '1' }] }],
  n: 1,
  k: [1],
  limit: null,
  rendering: { template: 'dapo', chat: false, enableThinking: false },
  temperature: 1,
  topP: 1,
  maxNewTokens: 16,
  seed: 0,
  stopTokenIds: [],
  stopStrings,
  grader: 'dapo',
  modelName: 'scripted',
});

describe('evaluation with stop strings', () => {
  it('passes rollout.stop to the engine and grades the response cut at it', async () => {
    const engine = scripted();
    const r = await runEvaluation(engine, tok, settings(['\nEND']));
    expect(engine.requests[0]!.stopStrings).toEqual(['\nEND']);
    expect(engine.requests[0]!.tokenBytes?.offsets.length).toBeGreaterThan(0);
    expect(r.results.b![0]!.samples[0]!.text).toBe('Answer: 1');
    expect(r.benchmarks[0]!.metrics['pass@1']).toBe(1);
  });

  it('without stop strings grades the whole response (the control)', async () => {
    const engine = scripted();
    const r = await runEvaluation(engine, tok, settings());
    expect(engine.requests[0]!.stopStrings).toBeUndefined();
    expect(r.results.b![0]!.samples[0]!.text).toBe('Answer: 1\nEND\nAnswer: 2');
    expect(r.benchmarks[0]!.metrics['pass@1']).toBe(0);
  });
});
