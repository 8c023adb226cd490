import { describe, expect, it } from 'vitest';
import { compareReports } from '../src/eval/compare.js';
import type { EvalReport } from '../src/eval/types.js';

const base: EvalReport = {
  model: 'base',
  createdAt: '2025-01-01T00:00:00.000Z',
  settings: {},
  benchmarks: [
    { name: 'math500', problems: 500, n: 4, metrics: { 'pass@1': 0.4, 'pass@4': 0.6 }, meanResponseTokens: 800 },
    { name: 'amc23', problems: 40, n: 4, metrics: { 'pass@1': 0.2, 'pass@4': 0.35 }, meanResponseTokens: 1200 },
  ],
  macro: { 'pass@1': 0.3, 'pass@4': 0.475 },
};
const trained: EvalReport = {
  model: 'gtr-step500',
  createdAt: '2025-01-02T00:00:00.000Z',
  settings: {},
  benchmarks: [
    { name: 'math500', problems: 500, n: 4, metrics: { 'pass@1': 0.475, 'pass@4': 0.55 }, meanResponseTokens: 950.5 },
    { name: 'amc23', problems: 40, n: 4, metrics: { 'pass@1': 0.25, 'pass@4': 0.35 }, meanResponseTokens: 1000 },
  ],
  macro: { 'pass@1': 0.3625, 'pass@4': 0.45 },
};
const partial: EvalReport = {
  model: 'other',
  createdAt: '2025-01-03T00:00:00.000Z',
  settings: {},
  benchmarks: [
    { name: 'math500', problems: 500, n: 4, metrics: { 'pass@1': 0.5, 'maj@4': 0.55 }, meanResponseTokens: 700 },
  ],
  macro: { 'pass@1': 0.5, 'maj@4': 0.55 },
};

describe('compareReports', () => {
  it('JSON form: metric × benchmark rows, one value per report, deltas vs the first', () => {
    const { json } = compareReports([base, trained], ['base', 'gtr']);
    expect(json.names).toEqual(['base', 'gtr']);
    expect(json.models).toEqual(['base', 'gtr-step500']);
    expect(json.rows.map((r) => `${r.benchmark}/${r.metric}`)).toEqual([
      'math500/pass@1',
      'math500/pass@4',
      'math500/meanResponseTokens',
      'amc23/pass@1',
      'amc23/pass@4',
      'amc23/meanResponseTokens',
      'macro/pass@1',
      'macro/pass@4',
    ]);
    const r0 = json.rows[0]!;
    expect(r0.values).toEqual([0.4, 0.475]);
    expect(r0.deltas[0]).toBe(0);
    expect(r0.deltas[1]).toBeCloseTo(0.075, 15);
    expect(json.rows[1]!.deltas[1]).toBeCloseTo(-0.05, 15);
    expect(json.rows[2]).toMatchObject({ unit: 'tokens', values: [800, 950.5], deltas: [0, 150.5] });
    expect(json.rows[6]!.deltas[1]).toBeCloseTo(0.0625, 15);
  });

  it('markdown shows values and signed deltas', () => {
    const { markdown } = compareReports([base, trained], ['base', 'gtr']);
    expect(markdown).toContain('| benchmark | metric | base | gtr |');
    expect(markdown).toContain('| math500 | pass@1 | 40.0 | 47.5 (+7.5) |');
    expect(markdown).toContain('| math500 | pass@4 | 60.0 | 55.0 (-5.0) |');
    expect(markdown).toContain('| math500 | mean tokens | 800.0 | 950.5 (+150.5) |');
    expect(markdown).toContain('| amc23 | pass@4 | 35.0 | 35.0 (+0.0) |');
    expect(markdown).toContain('| amc23 | mean tokens | 1200.0 | 1000.0 (-200.0) |');
    expect(markdown).toContain('| **macro** | pass@1 | 30.0 | 36.3 (+6.3) |');
  });

  it('missing benchmarks and metrics are null in JSON and — in markdown', () => {
    const { json, markdown } = compareReports([base, partial, trained], ['a', 'b', 'c']);
    const maj = json.rows.find((r) => r.benchmark === 'math500' && r.metric === 'maj@4')!;
    expect(maj.values).toEqual([null, 0.55, null]);
    expect(maj.deltas).toEqual([null, null, null]);
    expect(markdown).toContain('| math500 | maj@4 | — | 55.0 | — |');
    expect(markdown).toContain('| amc23 | pass@1 | 20.0 | — | 25.0 (+5.0) |');
  });

  it('rejects mismatched names and empty input', () => {
    expect(() => compareReports([base], ['a', 'b'])).toThrow(/1 reports but 2 names/);
    expect(() => compareReports([], [])).toThrow(/no reports/);
  });
});
