/**
 * compileForRun remembers programs within the process (a judge runs one policy thousands of times),
 * but never past an edit: a `{file}` profile that changed is compiled again, inline sections are
 * told apart by their content, and a profile that became unreadable is an error, not a stale program.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { compileForRun } from '../../src/launch/seccomp.js';
import { SandboxError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'sbx-seccomp-memo-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const kernel = '6.1.0';
const euid = process.geteuid!();

function profile(errno: string): string {
  return JSON.stringify({ defaultAction: 'errno', defaultErrno: errno, syscalls: [{ names: ['read', 'write', 'exit_group'], action: 'allow' }] });
}

test('the same file profile twice: the same program, served from memory', () => {
  writeFileSync(join(dir, 'a.json'), profile('EPERM'));
  const first = compileForRun({ file: 'a.json' }, dir, kernel, euid);
  const second = compileForRun({ file: 'a.json' }, dir, kernel, euid);
  assert.equal(second, first, 'the very same program object');
});

test('an edited file profile is compiled again, even at the same size and instant', () => {
  writeFileSync(join(dir, 'b.json'), profile('EPERM'));
  const before = compileForRun({ file: 'b.json' }, dir, kernel, euid);
  writeFileSync(join(dir, 'b.json'), profile('EBUSY'));
  const after = compileForRun({ file: 'b.json' }, dir, kernel, euid);
  assert.notEqual(after.hash, before.hash);
  assert.ok(!after.program.equals(before.program), 'the new errno is in the program');
});

test('inline sections are told apart by content', () => {
  const a = compileForRun(JSON.parse(profile('EPERM')), dir, kernel, euid);
  const b = compileForRun(JSON.parse(profile('EACCES')), dir, kernel, euid);
  assert.notEqual(a.hash, b.hash);
});

test('a profile file that disappeared is an error, not the remembered program', () => {
  writeFileSync(join(dir, 'c.json'), profile('EPERM'));
  compileForRun({ file: 'c.json' }, dir, kernel, euid);
  unlinkSync(join(dir, 'c.json'));
  assert.throws(() => compileForRun({ file: 'c.json' }, dir, kernel, euid), (e: unknown) => e instanceof SandboxError && e.code === 'SECCOMP' && /cannot read/.test(e.message));
});
