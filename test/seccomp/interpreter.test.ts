/**
 * The interpreter's semantics, instruction by instruction (interpreter-kernel.test.ts checks it
 * against the real kernel on random programs).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { runFilter, traceFilter, seccompDataBytes, isConstantAllow, insn, bpf as B, type Insn, compileFilter, AUDIT_ARCH_X86_64, syscallNumber } from '../../src/seccomp/index.js';

const ret = (k: number): Insn => insn(B.BPF_RET | B.BPF_K, k);
const retA = insn(B.BPF_RET | B.BPF_A);
const ld = (k: number): Insn => insn(B.BPF_LD | B.BPF_W | B.BPF_ABS, k);
const alu = (op: number, k: number): Insn => insn(B.BPF_ALU | op | B.BPF_K, k);
const aluX = (op: number): Insn => insn(B.BPF_ALU | op | B.BPF_X);
const ldxImm = (k: number): Insn => insn(B.BPF_LDX | B.BPF_IMM, k);
const ldImm = (k: number): Insn => insn(B.BPF_LD | B.BPF_IMM, k);
const D = { nr: 0x12345678, arch: 0xc000003e, instructionPointer: 0x1122334455667788n, args: [0xaaaabbbbccccddddn, 1n, 2n, 3n, 4n, 0xffffffff00000001n] };

test('seccomp_data layout: nr, arch, ip, args (little-endian words)', () => {
  const b = seccompDataBytes(D);
  assert.equal(b.length, 64);
  assert.equal(b.readUInt32LE(0), 0x12345678);
  assert.equal(b.readUInt32LE(4), 0xc000003e);
  assert.equal(b.readBigUInt64LE(8), 0x1122334455667788n);
  assert.equal(b.readBigUInt64LE(16), 0xaaaabbbbccccddddn);
  assert.equal(runFilter([ld(16), retA], D), 0xccccdddd, 'args[0] low word at 16');
  assert.equal(runFilter([ld(20), retA], D), 0xaaaabbbb, 'args[0] high word at 20');
  assert.equal(runFilter([ld(56), retA], D), 1);
  assert.equal(runFilter([ld(60), retA], D), 0xffffffff);
  assert.equal(runFilter([ld(8), retA], D), 0x55667788);
});

test('A and X start at 0; ld len and ldx len are 64', () => {
  assert.equal(runFilter([retA], D), 0);
  assert.equal(runFilter([insn(B.BPF_MISC | B.BPF_TXA), retA], D), 0);
  assert.equal(runFilter([insn(B.BPF_LD | B.BPF_W | B.BPF_LEN), retA], D), 64);
  assert.equal(runFilter([insn(B.BPF_LDX | B.BPF_W | B.BPF_LEN), insn(B.BPF_MISC | B.BPF_TXA), retA], D), 64);
});

test('32-bit ALU wraps; division is unsigned; dividing by X == 0 returns 0', () => {
  assert.equal(runFilter([ldImm(0xffffffff), alu(B.BPF_ADD, 2), retA], D), 1);
  assert.equal(runFilter([ldImm(1), alu(B.BPF_SUB, 2), retA], D), 0xffffffff);
  assert.equal(runFilter([ldImm(0x10000), alu(B.BPF_MUL, 0x10001), retA], D), 0x10000);
  assert.equal(runFilter([ldImm(0xfffffffe), alu(B.BPF_DIV, 2), retA], D), 0x7fffffff);
  assert.equal(runFilter([ldImm(5), ldxImm(0), aluX(B.BPF_DIV), ret(0x7fff0000)], D), 0);
  assert.equal(runFilter([ldImm(1), insn(B.BPF_ALU | B.BPF_NEG), retA], D), 0xffffffff);
  assert.equal(runFilter([ldImm(0xf0), alu(B.BPF_AND, 0x3c), alu(B.BPF_OR, 1), alu(B.BPF_XOR, 0xff), retA], D), 0xce);
});

test('shifts: constant shifts < 32; shifts by X use the low 5 bits of X', () => {
  assert.equal(runFilter([ldImm(1), alu(B.BPF_LSH, 31), retA], D), 0x80000000);
  assert.equal(runFilter([ldImm(0x80000000), alu(B.BPF_RSH, 31), retA], D), 1);
  assert.equal(runFilter([ldImm(1), ldxImm(33), aluX(B.BPF_LSH), retA], D), 2);
  assert.equal(runFilter([ldImm(8), ldxImm(35), aluX(B.BPF_RSH), retA], D), 1);
});

test('scratch memory and register moves', () => {
  const p = [ldImm(7), insn(B.BPF_ST, 3), ldImm(9), insn(B.BPF_MISC | B.BPF_TAX), insn(B.BPF_STX, 4),
    insn(B.BPF_LD | B.BPF_MEM, 3), insn(B.BPF_LDX | B.BPF_MEM, 4), aluX(B.BPF_ADD), retA];
  assert.equal(runFilter(p, D), 16);
});

test('jumps: jeq/jgt/jge/jset with K and X, unsigned; ja', () => {
  const cond = (op: number, a: number, k: number): number =>
    runFilter([ldImm(a), insn(B.BPF_JMP | op | B.BPF_K, k, 0, 1), ret(1), ret(0)], D);
  assert.equal(cond(B.BPF_JEQ, 5, 5), 1);
  assert.equal(cond(B.BPF_JGT, 0xffffffff, 1), 1, 'unsigned');
  assert.equal(cond(B.BPF_JGT, 1, 1), 0);
  assert.equal(cond(B.BPF_JGE, 1, 1), 1);
  assert.equal(cond(B.BPF_JSET, 6, 1), 0);
  assert.equal(cond(B.BPF_JSET, 6, 2), 1);
  const x = runFilter([ldImm(3), ldxImm(3), insn(B.BPF_JMP | B.BPF_JEQ | B.BPF_X, 0, 0, 1), ret(1), ret(0)], D);
  assert.equal(x, 1);
  assert.equal(runFilter([insn(B.BPF_JMP | B.BPF_JA, 1), ret(1), ret(2)], D), 2);
});

test('traceFilter reports the executed path', () => {
  const r = traceFilter([ld(0), insn(B.BPF_JMP | B.BPF_JEQ | B.BPF_K, 0x12345678, 1, 0), ret(1), ret(2)], D);
  assert.deepEqual(r, { ret: 2, path: [0, 1, 3] });
});

test('the interpreter refuses programs the kernel would refuse', () => {
  assert.throws(() => runFilter([ld(2), retA], D), (e: Error & { code?: string }) => e.code === 'PROGRAM_INVALID');
});

test('isConstantAllow mirrors the kernel cache emulation', () => {
  const p = [ld(4), insn(B.BPF_JMP | B.BPF_JEQ | B.BPF_K, 0xc000003e, 1, 0), ret(0), ld(0),
    insn(B.BPF_JMP | B.BPF_JEQ | B.BPF_K, 1, 0, 1), ret(0x7fff0000), ld(16), ret(0x7fff0000)];
  assert.equal(isConstantAllow(p, 0xc000003e, 1), true);
  assert.equal(isConstantAllow(p, 0xc000003e, 2), false, 'an argument load on the path is not constant');
  assert.equal(isConstantAllow(p, 0x40000003, 1), false, 'returns kill for a foreign arch');
});

test('compiled filters keep argument-free allowed syscalls on the cacheable path (Linux >= 5.11)', () => {
  const f = compileFilter({ defaultAction: 'errno', syscalls: [
    { names: ['getppid', 'read', 'close', 'getrandom'], action: 'allow' },
    { names: ['ioctl'], action: 'allow' },
    { names: ['ioctl'], action: 'errno', args: [{ index: 1, op: 'eq', value: 'TIOCSTI' }] },
  ] }, { arch: 'x86_64' });
  for (const name of ['getppid', 'read', 'close', 'getrandom']) {
    assert.equal(isConstantAllow(f.insns, AUDIT_ARCH_X86_64, syscallNumber('x86_64', name)!), true, name);
  }
  assert.equal(isConstantAllow(f.insns, AUDIT_ARCH_X86_64, syscallNumber('x86_64', 'ioctl')!), false, 'ioctl has argument rules');
  assert.equal(isConstantAllow(f.insns, AUDIT_ARCH_X86_64, syscallNumber('x86_64', 'mount')!), false, 'denied');
});
