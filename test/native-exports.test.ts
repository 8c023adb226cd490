// The addon's exports against their declaration in src/native/types.ts: the member names of
// `NativeAddon`, the hooks of `NativeTesting` and the Trainer's statics of
// `NativeTrainerConstructor`, read from the source with the TypeScript compiler, must be exactly
// what the built addon exposes, so the boundary cannot drift (an export types.ts does not declare,
// or a declaration with nothing behind it).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { native } from '../src/native/binding.js';
import { Policy } from '../src/policy.js';
import { presetConfig } from '../src/checkpoint/index.js';

/** Names of the properties and methods an interface of src/native/types.ts declares. */
function declaredMembers(interfaceName: string): string[] {
  const path = join(import.meta.dirname, '..', 'src', 'native', 'types.ts');
  const sf = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
  for (const st of sf.statements) {
    if (ts.isInterfaceDeclaration(st) && st.name.text === interfaceName) {
      return st.members
        .filter((m) => m.name !== undefined)
        .map((m) => (m.name as ts.Identifier).text)
        .sort();
    }
  }
  throw new Error(`interface ${interfaceName} not found in ${path}`);
}

describe('native addon exports', () => {
  it('are exactly the members NativeAddon declares', () => {
    expect(Object.keys(native()).sort()).toEqual(declaredMembers('NativeAddon'));
  });

  it('the test and bench hooks on `testing` are exactly the members NativeTesting declares, and none is on the production surface', () => {
    const hooks = Object.keys(native().testing).sort();
    expect(hooks).toEqual(declaredMembers('NativeTesting'));
    for (const h of hooks) expect(Object.keys(native())).not.toContain(h);
  });

  it("the ObjectWraps' methods and accessors are exactly what NativePolicy, NativeTrainer and NativeProcessGroup declare", () => {
    const members = (ctor: { prototype: object }) =>
      Object.getOwnPropertyNames(ctor.prototype)
        .filter((k) => k !== 'constructor')
        .sort();
    expect(members(native().Policy)).toEqual(declaredMembers('NativePolicy'));
    expect(members(native().Trainer)).toEqual(declaredMembers('NativeTrainer'));
    expect(members(native().ProcessGroup)).toEqual(declaredMembers('NativeProcessGroup'));
  });

  it("the Trainer's statics are exactly those NativeTrainerConstructor declares", () => {
    const statics = Object.getOwnPropertyNames(native().Trainer).filter(
      (k) => !['length', 'name', 'prototype', 'arguments', 'caller'].includes(k),
    );
    expect(statics.sort()).toEqual(declaredMembers('NativeTrainerConstructor'));
  });
});

// native/core/errors.h's rule: a call that returns a promise reports bad input as a rejection (never
// a synchronous throw); a synchronous call or constructor throws; messages name the call and field.
describe('one error rule at the boundary', () => {
  it('promise-returning calls of Policy and Trainer reject bad input; constructors and sync calls throw', async () => {
    const policy = await Policy.random(presetConfig('tiny'), 1, { device: 'cpu', dtype: 'float32' });
    try {
      const np = policy.native;
      const t = new (native().Trainer)(np);
      const calls: Array<[string, () => unknown, RegExp]> = [
        ['forwardLogits', () => np.forwardLogits('x' as never, Int32Array.of(1)), /tokens must be a typed array/],
        ['initRandom', () => (np.initRandom as (...a: unknown[]) => unknown)('seed'), /initRandom\(seed, std\)/],
        ['trainMicroBatch', () => t.trainMicroBatch({} as never), /tokens must be a typed array/],
        [
          'trainMicroBatch loss',
          () =>
            t.trainMicroBatch({
              tokens: Int32Array.of(1, 2),
              seqLens: Int32Array.of(2),
              responseMask: Uint8Array.of(0, 1),
              advantages: Float32Array.of(0, 1),
              oldLogprobs: Float32Array.of(0, 0),
              loss: { name: 'gtr', sigma: 'wide' },
              denominators: { tokens: 1, sequences: 1 },
            } as never),
          /loss\.sigma must be a number/,
        ],
        ['step', () => (t.step as (...a: unknown[]) => unknown)(), /step\(\{lr\}\)/],
        ['step lr', () => t.step({ lr: Number.NaN }), /step: lr must be finite/],
        ['saveState', () => (t.saveState as (...a: unknown[]) => unknown)(3), /saveState\(path\)/],
      ];
      for (const [name, call, msg] of calls) {
        let r: unknown;
        expect(() => {
          r = call();
        }, name).not.toThrow();
        expect(r, name).toBeInstanceOf(Promise);
        await expect(r, name).rejects.toThrow(msg);
      }
      expect(() => new (native().Trainer)(np, { eps: 'small' } as never)).toThrow(
        /new Trainer: option eps must be a number/,
      );
      expect(() => native().generate(np, [Int32Array.of(1)], { topP: 2 })).toThrow(
        /generate: option topP must be in \(0, 1\]/,
      );
      expect(() => native().testing.sampleDebug(new Float32Array(4), 4, { minP: 'x' } as never)).toThrow(
        /sampleDebug: option minP must be a number/,
      );
      expect(
        () =>
          new (native().Policy)({ ...policy.config.native, hiddenSize: 'big' } as never, {
            device: 'cpu',
            dtype: 'float32',
          }),
      ).toThrow(/new Policy: config\.hiddenSize must be a number/);
      // native/parallel reads its options with the same reader: a wrong type is an error, not a default.
      const group = { rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: 29500, storeServer: false };
      expect(() => new (native().ProcessGroup)({ ...group, worldSize: '2' } as never)).toThrow(
        /new ProcessGroup: option worldSize must be a number/,
      );
      expect(() => new (native().ProcessGroup)({ ...group, rank: 1 } as never)).toThrow(
        /new ProcessGroup: option rank must be < worldSize \(1\)/,
      );
      expect(() => new (native().ProcessGroup)({ ...group, storeServer: 'yes' } as never)).toThrow(
        /new ProcessGroup: option storeServer must be a boolean/,
      );
      t.dispose();
    } finally {
      policy.dispose();
    }
  });
});
