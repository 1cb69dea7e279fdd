import test from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileSeccomp, compileSeccompCached } from '../../src/seccomp/index.js';
import { scratchDir } from './helpers/native.js';

const profile = { defaultAction: 'errno', syscalls: [{ names: ['read', 'write'], action: 'allow' }, { names: ['nope_call'], action: 'allow' }] };
const ctx = { arch: 'x86_64' as const, kernel: '6.1' };

test('cache: miss compiles and stores atomically; hit returns the same program and warnings', () => {
  const dir = join(scratchDir(), 'cache');
  const a = compileSeccompCached(profile, ctx, dir);
  assert.equal(a.cached, false);
  assert.deepEqual(readdirSync(dir), [`${a.hash}.json`], 'no temp files left');
  const b = compileSeccompCached(profile, ctx, dir);
  assert.equal(b.cached, true);
  assert.ok(b.program.equals(a.program));
  assert.deepEqual(b.warnings, a.warnings);
  assert.equal(b.warnings.length, 1);
  assert.equal(b.hash, compileSeccomp(profile, ctx).hash);
});

test('cache: a damaged entry is detected by the validator and recompiled', () => {
  const dir = join(scratchDir(), 'cache');
  const a = compileSeccompCached(profile, ctx, dir);
  const path = join(dir, `${a.hash}.json`);
  const entry = JSON.parse(readFileSync(path, 'utf8'));
  const bad = Buffer.from(entry.program, 'base64');
  bad.writeUInt32LE(2, 4); // first load at offset 2: misaligned, the kernel would refuse it
  writeFileSync(path, JSON.stringify({ ...entry, program: bad.toString('base64') }));
  const b = compileSeccompCached(profile, ctx, dir);
  assert.equal(b.cached, false);
  assert.ok(b.program.equals(a.program));
  writeFileSync(path, '{"truncated');
  assert.equal(compileSeccompCached(profile, ctx, dir).cached, false);
  assert.equal(compileSeccompCached(profile, ctx, dir).cached, true);
});

test('cache: different context, different entry', () => {
  const dir = join(scratchDir(), 'cache');
  compileSeccompCached(profile, ctx, dir);
  compileSeccompCached(profile, { ...ctx, arch: 'aarch64' }, dir);
  assert.equal(readdirSync(dir).length, 2);
});
