/**
 * The module stays self-contained (publishable alone) and its two schema copies stay identical.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { SECCOMP_SECTION_SCHEMA } from '../../src/seccomp/index.js';
import { REPO } from './helpers/native.js';

const ROOT = join(REPO, 'src/seccomp');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

test('src/seccomp imports nothing from the rest of the project (only node: built-ins and itself)', () => {
  for (const f of files(ROOT).filter((p) => p.endsWith('.ts') || p.endsWith('.mjs'))) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'/gm)) {
      const spec = m[1]!;
      if (spec.startsWith('node:')) continue;
      assert.ok(spec.startsWith('.'), `${relative(REPO, f)} imports the package ${spec}`);
      const target = resolve(dirname(f), spec);
      assert.ok(target.startsWith(ROOT + '/'), `${relative(REPO, f)} imports ${spec}, outside src/seccomp`);
    }
  }
});

test('schema.ts is schema.json', () => {
  assert.deepEqual(SECCOMP_SECTION_SCHEMA, JSON.parse(readFileSync(join(ROOT, 'schema.json'), 'utf8')));
});
