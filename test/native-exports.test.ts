// The addon's exports against their declaration in src/native/types.ts: the member names of
// `NativeAddon` (and the Trainer's static hooks of `NativeTrainerConstructor`), read from the source
// with the TypeScript compiler, must be exactly what the built addon exposes, so the boundary
// cannot drift (an export types.ts does not declare, or a declaration with nothing behind it).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { native } from '../src/native/binding.js';

/** Names of the properties and methods an interface of src/native/types.ts declares. */
function declaredMembers(interfaceName: string): string[] {
  const path = join(import.meta.dirname, '..', 'src', 'native', 'types.ts');
  const sf = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
  for (const st of sf.statements) {
    if (ts.isInterfaceDeclaration(st) && st.name.text === interfaceName) {
      return st.members.filter((m) => m.name !== undefined).map((m) => (m.name as ts.Identifier).text).sort();
    }
  }
  throw new Error(`interface ${interfaceName} not found in ${path}`);
}

describe('native addon exports', () => {
  it('are exactly the members NativeAddon declares', () => {
    expect(Object.keys(native()).sort()).toEqual(declaredMembers('NativeAddon'));
  });

  it("the Trainer's static hooks are exactly those NativeTrainerConstructor declares", () => {
    const statics = Object.getOwnPropertyNames(native().Trainer).filter((k) => !['length', 'name', 'prototype', 'arguments', 'caller'].includes(k));
    expect(statics.sort()).toEqual(declaredMembers('NativeTrainerConstructor'));
  });
});
