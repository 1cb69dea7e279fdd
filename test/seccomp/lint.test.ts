import test from 'node:test';
import assert from 'node:assert/strict';
import { compileFilter, lintFilter } from '../../src/seccomp/index.js';

const lint = (p: object) => lintFilter(compileFilter(p, { arch: 'x86_64' }).ir);

test('overlapping rules with different actions are reported, with a witness and the winner', () => {
  const out = lint({ defaultAction: 'allow', syscalls: [
    { names: ['write'], action: 'errno', args: [{ index: 0, op: 'le', value: 5 }] },
    { names: ['write'], action: 'kill_process', args: [{ index: 0, op: 'ge', value: 5 }] },
  ] });
  assert.equal(out.length, 1);
  assert.equal(out[0]!.code, 'overlap');
  assert.equal(out[0]!.severity, 'warning');
  assert.match(out[0]!.message, /args\[0\]=0x5/);
  assert.match(out[0]!.message, /kill_process wins/);
});

test('disjoint rules are not reported; an exception carved out of an unconditional allow is info', () => {
  assert.deepEqual(lint({ defaultAction: 'allow', syscalls: [
    { names: ['write'], action: 'errno', args: [{ index: 0, op: 'lt', value: 5 }] },
    { names: ['write'], action: 'kill_process', args: [{ index: 0, op: 'ge', value: 5 }] },
  ] }), []);
  const out = lint({ defaultAction: 'errno', syscalls: [
    { names: ['ioctl'], action: 'allow' },
    { names: ['ioctl'], action: 'errno', args: [{ index: 1, op: 'eq', value: 'TIOCSTI' }] },
  ] });
  assert.deepEqual(out.map((f) => [f.code, f.severity]), [['overlap', 'info']]);
});

test('shadowed rules: a different action is a warning, the same action is redundant (info)', () => {
  const out = lint({ defaultAction: 'allow', syscalls: [
    { names: ['write'], action: 'kill_process' },
    { names: ['write'], action: 'errno', args: [{ index: 0, op: 'eq', value: 1 }] },
    { names: ['read'], action: 'errno' },
    { names: ['read'], action: 'errno', args: [{ index: 0, op: 'eq', value: 1 }] },
  ] });
  const byName = Object.fromEntries(out.map((f) => [f.syscall, f]));
  assert.equal(byName['write']!.code, 'shadowed');
  assert.equal(byName['write']!.severity, 'warning');
  assert.equal(byName['read']!.severity, 'info');
});

test('unsatisfiable conditions are reported', () => {
  const out = lint({ defaultAction: 'allow', syscalls: [
    { names: ['mmap'], action: 'errno', args: [{ index: 2, op: 'lt', value: 0 }] },
    { names: ['write'], action: 'errno', args: [{ index: 2, op: 'lt', value: 3 }, { index: 2, op: 'gt', value: 7 }] },
  ] });
  assert.deepEqual(out.map((f) => [f.syscall, f.code]).sort(), [['mmap', 'unsatisfiable'], ['write', 'unsatisfiable']]);
});

test('the shipped profiles have no warnings', async () => {
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { REPO } = await import('./helpers/native.js');
  for (const f of ['strict.json', 'default.json']) {
    for (const arch of ['x86_64', 'aarch64'] as const) {
      const c = compileFilter(JSON.parse(readFileSync(join(REPO, 'policies/seccomp', f), 'utf8')), { arch });
      assert.deepEqual(c.warnings, [], `${f} ${arch}`);
      assert.deepEqual(lintFilter(c.ir).filter((l) => l.severity === 'warning'), [], `${f} ${arch}`);
    }
  }
});
