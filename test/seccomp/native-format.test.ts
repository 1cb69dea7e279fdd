/**
 * Our own section format: groups, named constants, operators, errors with JSON pointers, and
 * agreement with schema.json (the project's policy schema references it).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { compileFilter, decodeAction, formatAction, runFilter, syscallNumber, syscallNames, isSeccompError, GROUPS, AUDIT_ARCH_X86_64, type CompiledFilter } from '../../src/seccomp/index.js';
import { REPO } from './helpers/native.js';

const run = (f: CompiledFilter, name: string, args: bigint[] = []): string =>
  formatAction(decodeAction(runFilter(f.insns, { nr: syscallNumber('x86_64', name)!, arch: AUDIT_ARCH_X86_64, args })));
const ctx = { arch: 'x86_64' as const };

test('groups expand to their members on the target arch; every member exists on some arch', () => {
  const f = compileFilter({ defaultAction: 'errno', syscalls: [{ names: ['@basic-io'], action: 'allow' }] }, ctx);
  for (const n of ['read', 'write', 'close', 'dup3', 'lseek']) assert.equal(run(f, n), 'allow', n);
  assert.equal(run(f, 'open'), 'errno(1)');
  assert.deepEqual(f.warnings, []);
  const known = new Set([...syscallNames('x86_64'), ...syscallNames('aarch64'), ...syscallNames('i386'), ...syscallNames('arm')]);
  for (const [name, g] of Object.entries(GROUPS)) {
    for (const s of g.syscalls) assert.ok(known.has(s), `${name}: ${s} is in no table`);
  }
  // aarch64 lacks open/stat...: group members missing there are skipped silently.
  const a = compileFilter({ defaultAction: 'errno', syscalls: [{ names: ['@file-system'], action: 'allow' }] }, { arch: 'aarch64' });
  assert.deepEqual(a.warnings, []);
});

test('named constants and expressions', () => {
  const f = compileFilter({ defaultAction: 'allow', syscalls: [
    { names: ['ioctl'], action: 'errno', args: [{ index: 1, op: 'eq', value: 'TIOCSTI' }] },
    { names: ['clone'], action: 'errno', args: [{ index: 0, op: 'any_set', mask: 'CLONE_NEWUSER | CLONE_NEWNET' }] },
    { names: ['socket'], action: 'errno', errno: 'EAFNOSUPPORT', args: [{ index: 0, op: 'eq', value: 'AF_ALG' }] },
    { names: ['mmap'], action: 'errno', args: [{ index: 2, op: 'masked_eq', mask: 'PROT_WRITE|PROT_EXEC', value: '0b110' }] },
  ] }, ctx);
  assert.equal(run(f, 'ioctl', [0n, 0x5412n]), 'errno(1)');
  assert.equal(run(f, 'clone', [0x40000000n]), 'errno(1)');
  assert.equal(run(f, 'clone', [0x20000n]), 'allow', 'CLONE_NEWNS is not in this mask');
  assert.equal(run(f, 'socket', [38n]), 'errno(97)');
  assert.equal(run(f, 'mmap', [0n, 0n, 7n]), 'errno(1)');
  assert.equal(run(f, 'mmap', [0n, 0n, 3n]), 'allow');
});

test('none_set is (arg & mask) == 0; any_set is (arg & mask) != 0; all conditions of a rule are ANDed, even on one index', () => {
  const f = compileFilter({ defaultAction: 'errno', syscalls: [
    { names: ['clone'], action: 'allow', args: [{ index: 0, op: 'none_set', mask: 'CLONE_NEWUSER' }] },
    { names: ['write'], action: 'allow', args: [{ index: 0, op: 'ge', value: 3 }, { index: 0, op: 'le', value: 9 }] },
  ] }, ctx);
  assert.equal(run(f, 'clone', [0x11n]), 'allow');
  assert.equal(run(f, 'clone', [0x10000011n]), 'errno(1)');
  assert.equal(run(f, 'write', [2n]), 'errno(1)');
  assert.equal(run(f, 'write', [3n]), 'allow');
  assert.equal(run(f, 'write', [9n]), 'allow');
  assert.equal(run(f, 'write', [10n]), 'errno(1)');
});

test('a rule whose action equals the default is kept in our format (it carves an exception)', () => {
  const f = compileFilter({ defaultAction: 'errno', syscalls: [
    { names: ['ioctl'], action: 'allow' },
    { names: ['ioctl'], action: 'errno', args: [{ index: 1, op: 'eq', value: 'TIOCSTI' }] },
  ] }, ctx);
  assert.equal(run(f, 'ioctl', [0n, 0x5412n]), 'errno(1)');
  assert.equal(run(f, 'ioctl', [0n, 0x5401n]), 'allow');
});

const BAD: [string, object, string, string][] = [
  ['missing defaultAction', {}, '/defaultAction', 'PROFILE_INVALID'],
  ['unknown top-level field', { defaultAction: 'allow', extra: 1 }, '/extra', 'PROFILE_INVALID'],
  ['unknown action', { defaultAction: 'deny' }, '/defaultAction', 'PROFILE_INVALID'],
  ['defaultErrno without errno default', { defaultAction: 'allow', defaultErrno: 1 }, '/defaultErrno', 'PROFILE_INVALID'],
  ['badArchAction allow', { defaultAction: 'allow', badArchAction: 'allow' }, '/badArchAction', 'PROFILE_INVALID'],
  ['empty names', { defaultAction: 'allow', syscalls: [{ names: [], action: 'allow' }] }, '/syscalls/0/names', 'PROFILE_INVALID'],
  ['unknown group', { defaultAction: 'allow', syscalls: [{ names: ['@nope'], action: 'allow' }] }, '/syscalls/0/names/0', 'UNKNOWN_GROUP'],
  ['errno on allow', { defaultAction: 'allow', syscalls: [{ names: ['read'], action: 'allow', errno: 1 }] }, '/syscalls/0/errno', 'PROFILE_INVALID'],
  ['index 6', { defaultAction: 'allow', syscalls: [{ names: ['read'], action: 'kill_process', args: [{ index: 6, op: 'eq', value: 1 }] }] }, '/syscalls/0/args/0/index', 'VALUE_RANGE'],
  ['unknown op', { defaultAction: 'allow', syscalls: [{ names: ['read'], action: 'kill_process', args: [{ index: 0, op: 'in', value: 1 }] }] }, '/syscalls/0/args/0/op', 'PROFILE_INVALID'],
  ['eq with a mask', { defaultAction: 'allow', syscalls: [{ names: ['read'], action: 'kill_process', args: [{ index: 0, op: 'eq', value: 1, mask: 1 }] }] }, '/syscalls/0/args/0/mask', 'PROFILE_INVALID'],
  ['masked_eq without value', { defaultAction: 'allow', syscalls: [{ names: ['read'], action: 'kill_process', args: [{ index: 0, op: 'masked_eq', mask: 1 }] }] }, '/syscalls/0/args/0/value', 'PROFILE_INVALID'],
  ['any_set with a value', { defaultAction: 'allow', syscalls: [{ names: ['read'], action: 'kill_process', args: [{ index: 0, op: 'any_set', mask: 1, value: 1 }] }] }, '/syscalls/0/args/0/value', 'PROFILE_INVALID'],
  ['unknown constant', { defaultAction: 'allow', syscalls: [{ names: ['ioctl'], action: 'kill_process', args: [{ index: 1, op: 'eq', value: 'TIOCSTY' }] }] }, '/syscalls/0/args/0/value', 'UNKNOWN_CONSTANT'],
  ['value above 64 bits', { defaultAction: 'allow', syscalls: [{ names: ['mmap'], action: 'kill_process', args: [{ index: 1, op: 'eq', value: '0x10000000000000000' }] }] }, '/syscalls/0/args/0', 'PROFILE_INVALID'],
  ['inexact double', { defaultAction: 'allow', syscalls: [{ names: ['mmap'], action: 'kill_process', args: [{ index: 1, op: 'eq', value: 2 ** 60 }] }] }, '/syscalls/0/args/0/value', 'VALUE_RANGE'],
  ['trace data too large', { defaultAction: 'allow', syscalls: [{ names: ['read'], action: 'trace', data: 70000 }] }, '/syscalls/0/data', 'VALUE_RANGE'],
];

for (const [name, p, pointer, code] of BAD) {
  test(`our format rejects: ${name} (${code} at ${pointer})`, () => {
    assert.throws(() => compileFilter(p, ctx), (e: unknown) => {
      assert.ok(isSeccompError(e), String(e));
      assert.equal(e.code, code, e.message);
      assert.equal(e.pointer?.startsWith(pointer), true, `${e.pointer} vs ${pointer}: ${e.message}`);
      return true;
    });
  });
}

test('schema.json (draft-07, ajv strict) accepts what the compiler accepts and rejects the malformed cases', () => {
  const schema = JSON.parse(readFileSync(join(REPO, 'src/seccomp/schema.json'), 'utf8'));
  assert.equal(schema.$id, 'sandbox-seccomp-section');
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  const validate = ajv.compile(schema);
  for (const f of ['strict.json', 'default.json']) {
    const profile = JSON.parse(readFileSync(join(REPO, 'policies/seccomp', f), 'utf8'));
    assert.equal(validate(profile), true, `${f}: ${JSON.stringify(validate.errors)}`);
  }
  // Structural errors the schema can see (names of groups and constants are checked by the compiler).
  const structural = BAD.filter(([, , , code]) => code === 'PROFILE_INVALID' || code === 'VALUE_RANGE')
    .filter(([name]) => name !== 'inexact double' && name !== 'value above 64 bits');
  for (const [name, p] of structural) assert.equal(validate(p), false, `schema should reject: ${name}`);
});
