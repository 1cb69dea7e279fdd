/**
 * Kernel in the loop for the BPF tools: the validator accepts exactly what the kernel loads, and
 * the interpreter computes what the kernel computes (random programs using every instruction
 * seccomp allows, results observed as errno values).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { encodeProgram, runFilter, validateProgram, AUDIT_ARCH_X86_64, AUDIT_ARCH_AARCH64, hostArch } from '../../src/seccomp/index.js';
import { VALIDATOR_CASES } from './helpers/programs.js';
import { randomProgram, randomU64, rng } from './helpers/random-bpf.js';
import { runCases, scratchDir, writeProgram, SIGSYS } from './helpers/native.js';

const AUDIT = hostArch() === 'x86_64' ? AUDIT_ARCH_X86_64 : AUDIT_ARCH_AARCH64;
const EINVAL = 22;

test('kernel: validator verdicts match what seccomp(SECCOMP_SET_MODE_FILTER) accepts', () => {
  const dir = scratchDir();
  const cases = VALIDATOR_CASES.map((c, i) => [`v${i}`, writeProgram(dir, `v${i}`, encodeProgram(c.prog)), 'load']);
  const res = runCases(cases);
  VALIDATOR_CASES.forEach((c, i) => {
    const r = res.get(`v${i}`)!;
    // After a successful load the child may not even be able to write (the program may deny write):
    // "accepted" is the absence of a load error, which is reported before the filter exists.
    const kernelAccepts = r.loadErrno === undefined && (r.exit !== undefined || r.signal !== undefined);
    assert.equal(kernelAccepts, c.valid, `${c.name}: kernel ${kernelAccepts ? 'accepts' : `refuses (errno ${r.loadErrno})`}, validator says ${validateProgram(c.prog).map((e) => e.message).join('; ') || 'valid'}`);
    if (!c.valid) assert.equal(r.loadErrno, EINVAL, c.name);
  });
});

test('kernel: the interpreter agrees with the kernel on 300 random programs', () => {
  const dir = scratchDir();
  const TEST_NR = 1000; // not a syscall; the filter's ERRNO answers it before the kernel looks
  const cases: string[][] = [];
  const expected = new Map<string, number>();
  const next = rng(0x5eccc0de);
  for (let i = 0; i < 100; i++) {
    for (const shift of [0, 12, 20]) {
      const prog = randomProgram(1000 + i, TEST_NR, 12 + (i % 30), shift);
      assert.deepEqual(validateProgram(prog), [], 'generated programs are valid');
      const path = writeProgram(dir, `p${i}-${shift}`, encodeProgram(prog));
      const args = Array.from({ length: 6 }, () => randomU64(next));
      const id = `r${i}-${shift}`;
      expected.set(id, runFilter(prog, { nr: TEST_NR, arch: AUDIT, args }));
      cases.push([id, path, 'sys', String(TEST_NR), ...args.map((a) => '0x' + a.toString(16))]);
    }
  }
  const res = runCases(cases);
  let divByZero = 0;
  for (const [id, want] of expected) {
    const r = res.get(id)!;
    if (want === 0) {
      // SECCOMP_RET_KILL_THREAD (a division by X == 0 ends the program with 0): the task dies of SIGSYS.
      divByZero++;
      assert.equal(r.signal, SIGSYS, `${id}: expected SIGSYS, got ${r.lines.join(' | ')}`);
      continue;
    }
    const errno = want & 0xfff;
    assert.deepEqual({ ret: r.ret, errno: r.errno }, errno === 0 ? { ret: 0, errno: 0 } : { ret: -1, errno }, `${id}: ${r.lines.join(' | ')}`);
  }
  assert.ok(expected.size - divByZero > 200, 'most programs return an errno');
});
