import { describe, expect, it } from 'vitest';
import { buildPrompt, getTemplate, TEMPLATE_NAMES } from '../src/data/index.js';

const DAPO =
  'Solve the following math problem step by step. The last line of your response should be of the form Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\nWhat is $1+1$?\n\nRemember to put your answer on its own line after "Answer:".';
const BOXED = 'What is $1+1$?\nPlease reason step by step, and put your final answer within \\boxed{}.';

describe('prompt templates', () => {
  it('dapo: exact text, as chat messages and as raw text', () => {
    expect(buildPrompt('dapo', 'What is $1+1$?', { chat: true })).toEqual({
      kind: 'chat',
      messages: [{ role: 'user', content: DAPO }],
    });
    expect(buildPrompt('dapo', 'What is $1+1$?', { chat: false })).toEqual({ kind: 'text', text: DAPO });
  });

  it('boxed: exact text, as chat messages and as raw text', () => {
    expect(buildPrompt('boxed', 'What is $1+1$?', { chat: true })).toEqual({
      kind: 'chat',
      messages: [{ role: 'user', content: BOXED }],
    });
    expect(buildPrompt('boxed', 'What is $1+1$?', { chat: false })).toEqual({ kind: 'text', text: BOXED });
  });

  it('plain: the problem text verbatim, as chat messages and as raw text', () => {
    expect(buildPrompt('plain', '12+47=', { chat: false })).toEqual({ kind: 'text', text: '12+47=' });
    expect(buildPrompt('plain', 'What is 12 + 47?', { chat: true })).toEqual({
      kind: 'chat',
      messages: [{ role: 'user', content: 'What is 12 + 47?' }],
    });
    expect(getTemplate('plain').userText(' a\nb ')).toBe(' a\nb ');
  });

  it('registry lists names and rejects unknown ones', () => {
    expect(TEMPLATE_NAMES).toEqual(['boxed', 'dapo', 'plain']);
    expect(() => getTemplate('qwen')).toThrow('unknown prompt template "qwen"; valid templates: boxed, dapo, plain');
    expect(() => buildPrompt('toString', 'x', { chat: false })).toThrow(/valid templates/);
  });
});
