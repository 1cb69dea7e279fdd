/**
 * Code for one argument condition. The code falls through when the condition holds and jumps to
 * `fail` when it does not.
 *
 * 64-bit arguments are compared as two 32-bit words (classic BPF is 32-bit): the high word decides
 * unless it is equal, then the low word decides — exactly unsigned 64-bit order. 32-bit arguments
 * (argwidth.ts) compare the low word only, as the kernel reads only that word.
 */
import { type Assembler, NEXT } from '../bpf/assembler.js';
import { BPF_AND, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JSET, SECCOMP_DATA_ARGS } from '../bpf/opcodes.js';
import { split64 } from '../bpf/interpreter.js';
import { type Condition } from '../policy/ir.js';

/** Byte offsets of the two words of args[i] (both targets are little-endian). */
export function argWordOffsets(index: number, littleEndian = true): { lo: number; hi: number } {
  const base = SECCOMP_DATA_ARGS + 8 * index;
  return littleEndian ? { lo: base, hi: base + 4 } : { lo: base + 4, hi: base };
}

export function emitCondition(a: Assembler, c: Condition, fail: string, littleEndian = true): void {
  const off = argWordOffsets(c.index, littleEndian);
  if (c.width === 32) {
    emit32(a, c, Number(c.value & 0xffffffffn), Number(c.mask & 0xffffffffn), off.lo, fail);
    return;
  }
  const pass = a.fresh('pass');
  const v = split64(c.value);
  const m = split64(c.mask);
  switch (c.op) {
    case 'eq':
      a.ldAbs(off.hi).jmpK(BPF_JEQ, v.hi, NEXT, fail);
      a.ldAbs(off.lo).jmpK(BPF_JEQ, v.lo, NEXT, fail);
      return;
    case 'ne':
      a.ldAbs(off.hi).jmpK(BPF_JEQ, v.hi, NEXT, pass);
      a.ldAbs(off.lo).jmpK(BPF_JEQ, v.lo, fail, pass);
      a.label(pass);
      return;
    case 'gt':
    case 'ge': {
      // hi > vhi: holds; hi == vhi: the low word decides; hi < vhi: fails.
      const lowOp = c.op === 'gt' ? BPF_JGT : BPF_JGE;
      a.ldAbs(off.hi);
      if (v.hi === 0xffffffff) {
        a.jmpK(BPF_JEQ, v.hi, NEXT, fail); // nothing is above 0xffffffff
      } else if (v.hi === 0) {
        a.jmpK(BPF_JGT, 0, pass, NEXT); // not above 0 means equal to 0
      } else {
        a.jmpK(BPF_JGT, v.hi, pass, NEXT);
        a.jmpK(BPF_JEQ, v.hi, NEXT, fail);
      }
      a.ldAbs(off.lo).jmpK(lowOp, v.lo, pass, fail);
      a.label(pass);
      return;
    }
    case 'lt':
    case 'le': {
      // hi < vhi: holds; hi == vhi: the low word decides; hi > vhi: fails.
      const lowFailOp = c.op === 'lt' ? BPF_JGE : BPF_JGT;
      a.ldAbs(off.hi);
      if (v.hi === 0xffffffff) {
        a.jmpK(BPF_JEQ, v.hi, NEXT, pass);
      } else if (v.hi === 0) {
        a.jmpK(BPF_JGT, 0, fail, NEXT);
      } else {
        a.jmpK(BPF_JGT, v.hi, fail, NEXT);
        a.jmpK(BPF_JEQ, v.hi, NEXT, pass);
      }
      a.ldAbs(off.lo).jmpK(lowFailOp, v.lo, fail, pass);
      a.label(pass);
      return;
    }
    case 'masked_eq':
      maskedWord(a, off.hi, m.hi, v.hi, fail);
      maskedWord(a, off.lo, m.lo, v.lo, fail);
      return;
    case 'any_set':
      if (m.hi === 0 && m.lo === 0) {
        a.ja(fail); // no bit can be set in an empty mask
        return;
      }
      if (m.hi !== 0) a.ldAbs(off.hi).jmpK(BPF_JSET, m.hi, pass, m.lo !== 0 ? NEXT : fail);
      if (m.lo !== 0) a.ldAbs(off.lo).jmpK(BPF_JSET, m.lo, pass, fail);
      a.label(pass);
      return;
  }
}

/** (word & mask) == value, falling through when it holds. */
function maskedWord(a: Assembler, offset: number, mask: number, value: number, fail: string): void {
  if (mask === 0) {
    // (w & 0) is 0: holds exactly when value is 0, whatever the argument.
    if (value !== 0) a.ja(fail);
    return;
  }
  a.ldAbs(offset);
  if (mask !== 0xffffffff) a.aluK(BPF_AND, mask);
  a.jmpK(BPF_JEQ, value, NEXT, fail);
}

function emit32(a: Assembler, c: Condition, v: number, m: number, lo: number, fail: string): void {
  switch (c.op) {
    case 'eq': a.ldAbs(lo).jmpK(BPF_JEQ, v, NEXT, fail); return;
    case 'ne': a.ldAbs(lo).jmpK(BPF_JEQ, v, fail, NEXT); return;
    case 'gt': a.ldAbs(lo).jmpK(BPF_JGT, v, NEXT, fail); return;
    case 'ge': a.ldAbs(lo).jmpK(BPF_JGE, v, NEXT, fail); return;
    case 'lt': a.ldAbs(lo).jmpK(BPF_JGE, v, fail, NEXT); return;
    case 'le': a.ldAbs(lo).jmpK(BPF_JGT, v, fail, NEXT); return;
    case 'masked_eq': maskedWord(a, lo, m, v, fail); return;
    case 'any_set':
      if (m === 0) a.ja(fail);
      else a.ldAbs(lo).jmpK(BPF_JSET, m, NEXT, fail);
      return;
  }
}
