import test from 'node:test';
import assert from 'node:assert/strict';
import { Assembler, NEXT, bpf, decodeProgram, encodeProgram, validateProgram, runFilter, type Insn } from '../../src/seccomp/index.js';
import { SeccompError } from '../../src/seccomp/errors.js';

const JEQ = bpf.BPF_JMP | bpf.BPF_JEQ | bpf.BPF_K;
const JA = bpf.BPF_JMP | bpf.BPF_JA;

test('labels resolve to forward offsets; NEXT is the following instruction', () => {
  const a = new Assembler();
  a.ldAbs(0).jmpK(bpf.BPF_JEQ, 7, 'yes', NEXT).ret(1).label('yes').ret(2);
  const p = a.assemble();
  assert.deepEqual(p[1], { code: JEQ, jt: 1, jf: 0, k: 7 });
  assert.equal(runFilter(p, { nr: 7, arch: 0 }), 2);
  assert.equal(runFilter(p, { nr: 8, arch: 0 }), 1);
});

test('a conditional jump farther than 255 gets a ja trampoline', () => {
  const a = new Assembler();
  a.ldAbs(0).jmpK(bpf.BPF_JEQ, 1, 'far', NEXT);
  for (let i = 0; i < 300; i++) a.ret(100 + i);
  a.label('far').ret(7);
  const p = a.assemble();
  assert.equal(validateProgram(p).length, 0);
  assert.equal(p.length, 2 + 1 + 300 + 1, 'one trampoline');
  assert.deepEqual(p[1], { code: JEQ, jt: 0, jf: 1, k: 1 });
  assert.equal(p[2]!.code, JA);
  assert.equal(2 + 1 + p[2]!.k, p.length - 1);
  assert.equal(runFilter(p, { nr: 1, arch: 0 }), 7);
  assert.equal(runFilter(p, { nr: 2, arch: 0 }), 100);
});

test('both sides far to different targets: two trampolines; same target: one', () => {
  const a = new Assembler();
  a.ldAbs(0).jmpK(bpf.BPF_JGE, 10, 'x', 'y');
  for (let i = 0; i < 260; i++) a.ret(i);
  a.label('x').ret(1000);
  for (let i = 0; i < 260; i++) a.ret(i);
  a.label('y').ret(2000);
  const p = a.assemble();
  assert.equal(validateProgram(p).length, 0);
  assert.equal(runFilter(p, { nr: 10, arch: 0 }), 1000);
  assert.equal(runFilter(p, { nr: 9, arch: 0 }), 2000);
  assert.equal(p[2]!.code, JA);
  assert.equal(p[3]!.code, JA);

  const b = new Assembler();
  b.ldAbs(0).jmpK(bpf.BPF_JGE, 10, 'z', 'z');
  for (let i = 0; i < 260; i++) b.ret(i);
  b.label('z').ret(5);
  const q = b.assemble();
  assert.equal(q[2]!.code, JA);
  assert.notEqual(q[3]!.code, JA);
  assert.equal(runFilter(q, { nr: 1, arch: 0 }), 5);
});

test('inserting trampolines can push other jumps out of range; the assembler repeats until all fit', () => {
  const a = new Assembler();
  a.ldAbs(0);
  // Many jumps each 250 away from their target: each trampoline inserted shifts the others.
  for (let i = 0; i < 40; i++) a.jmpK(bpf.BPF_JEQ, i, `t${i}`, NEXT);
  for (let i = 0; i < 250; i++) a.ret(0xdead);
  for (let i = 0; i < 40; i++) a.label(`t${i}`).ret(i);
  const p = a.assemble();
  assert.equal(validateProgram(p).length, 0);
  for (let i = 0; i < 40; i++) assert.equal(runFilter(p, { nr: i, arch: 0 }), i);
  assert.equal(runFilter(p, { nr: 99, arch: 0 }), 0xdead);
  for (const insn of p) if (insn.code === JEQ) assert.ok(insn.jt <= 255 && insn.jf <= 255);
});

test('errors: duplicate label, missing label, label after the end, backward jump', () => {
  const dup = new Assembler();
  dup.label('a').ret(0);
  assert.throws(() => dup.label('a'), (e: SeccompError) => e.code === 'ASSEMBLER');
  const missing = new Assembler();
  missing.ldAbs(0).jmpK(bpf.BPF_JEQ, 1, 'nowhere', NEXT).ret(0);
  assert.throws(() => missing.assemble(), /never placed/);
  const end = new Assembler();
  end.ret(0).label('end');
  assert.throws(() => end.assemble(), /after the last instruction/);
  const back = new Assembler();
  back.label('top').ldAbs(0).jmpK(bpf.BPF_JEQ, 1, 'top', NEXT).ret(0);
  assert.throws(() => back.assemble(), /backwards/);
  assert.throws(() => new Assembler().emit(JA, 0), /jmpK/);
});

test('ja to a label', () => {
  const a = new Assembler();
  a.ja('end').ret(1).ret(2).label('end').ret(3);
  const p: Insn[] = a.assemble();
  assert.deepEqual(p[0], { code: JA, jt: 0, jf: 0, k: 2 });
  assert.equal(runFilter(p, { nr: 0, arch: 0 }), 3);
});

test('sock_filter encoding: decode is the exact inverse of encode, both byte orders, all field extremes', () => {
  const rnd = (n: number) => Math.floor(Math.random() * n);
  const prog: Insn[] = [
    { code: 0, jt: 0, jf: 0, k: 0 },
    { code: 0xffff, jt: 255, jf: 255, k: 0xffffffff },
    ...Array.from({ length: 200 }, () => ({ code: rnd(0x10000), jt: rnd(256), jf: rnd(256), k: rnd(0x100000000) })),
  ];
  for (const le of [true, false]) {
    const bytes = encodeProgram(prog, le);
    assert.equal(bytes.length, prog.length * 8);
    assert.deepEqual(decodeProgram(bytes, le), prog);
    // from a view into a larger buffer, as a cached entry's base64 decodes
    const padded = Buffer.concat([Buffer.alloc(3), bytes]);
    assert.deepEqual(decodeProgram(padded.subarray(3), le), prog);
  }
  assert.deepEqual(Buffer.from(encodeProgram([{ code: 0x0102, jt: 3, jf: 4, k: 0x05060708 }], true)), Buffer.from([2, 1, 3, 4, 8, 7, 6, 5]));
  assert.throws(() => decodeProgram(Buffer.alloc(12)), (e: unknown) => e instanceof SeccompError && e.code === 'PROGRAM_INVALID');
});
