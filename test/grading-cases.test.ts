import { describe, expect, it } from 'vitest';
import { gradeMath, percentQuestion, rowTolerance } from '../src/grading/index.js';
import { readFixtureJsonl } from './helpers/paths.js';

interface Case {
  id: string;
  source: string;
  gold: string;
  response: string;
  correct: boolean;
  note: string;
  error?: string;
  relTol?: number;
  /** The question, where a rule reads it (a percentage question). */
  problem?: string;
}

const cases = readFixtureJsonl<Case>('grader-cases.jsonl');

describe('math grader: labelled cases', () => {
  it('has at least 200 cases covering every benchmark', () => {
    expect(cases.length).toBeGreaterThanOrEqual(200);
    const sources = new Set(cases.map((c) => c.source));
    for (const s of ['math500', 'olympiadbench', 'minerva', 'amc23', 'aime24', 'aime25', 'dapo-math-17k'])
      expect(sources).toContain(s);
    expect(cases.filter((c) => !c.correct).length).toBeGreaterThanOrEqual(80);
  });

  it.each(cases.map((c) => [`${c.id} [${c.source}] ${c.note}`, c] as const))('%s', (_name, c) => {
    const r = gradeMath(c.response, c.gold, {
      relTol: c.relTol,
      absTol: rowTolerance(c as unknown as Record<string, unknown>),
      percent: percentQuestion(c.problem ?? ''),
    });
    expect({ correct: r.correct, extracted: r.extracted }).toMatchObject({ correct: c.correct });
    expect(r.score).toBe(c.correct ? 1 : 0);
  });
});
