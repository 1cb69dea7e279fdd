/**
 * BPF programs the kernel accepts or refuses, shared by the validator's unit test and its
 * kernel-in-the-loop test.
 */
import { insn, bpf as B, type Insn } from '../../../src/seccomp/index.js';

const ALLOW = 0x7fff0000;
const ret = (k = ALLOW): Insn => insn(B.BPF_RET | B.BPF_K, k);
const ld = (k: number): Insn => insn(B.BPF_LD | B.BPF_W | B.BPF_ABS, k);
const jeq = (k: number, jt: number, jf: number): Insn => insn(B.BPF_JMP | B.BPF_JEQ | B.BPF_K, k, jt, jf);

export interface ValidatorCase {
  name: string;
  prog: Insn[];
  valid: boolean;
  reason?: RegExp;
}

export const VALIDATOR_CASES: ValidatorCase[] = [
  { name: 'ret allow', prog: [ret()], valid: true },
  { name: 'ld nr, jeq, two rets', prog: [ld(0), jeq(39, 0, 1), ret(), ret(0x50001)], valid: true },
  { name: 'load of every aligned field', prog: [ld(0), ld(4), ld(8), ld(12), ld(16), ld(60), ret()], valid: true },
  { name: 'misaligned load', prog: [ld(2), ret()], valid: false, reason: /aligned/ },
  { name: 'load past seccomp_data', prog: [ld(64), ret()], valid: false, reason: /outside/ },
  { name: 'ancillary load', prog: [ld(0xfffff000), ret()], valid: false },
  { name: 'halfword load', prog: [insn(B.BPF_LD | B.BPF_H | B.BPF_ABS, 0), ret()], valid: false, reason: /not allowed/ },
  { name: 'byte load', prog: [insn(B.BPF_LD | B.BPF_B | B.BPF_ABS, 0), ret()], valid: false, reason: /not allowed/ },
  { name: 'indirect load', prog: [insn(B.BPF_LD | B.BPF_W | B.BPF_IND, 0), ret()], valid: false, reason: /not allowed/ },
  { name: 'ldx msh', prog: [insn(B.BPF_LDX | B.BPF_B | B.BPF_MSH, 0), ret()], valid: false, reason: /not allowed/ },
  { name: 'mod (not in seccomp)', prog: [insn(B.BPF_ALU | B.BPF_MOD | B.BPF_K, 3), ret()], valid: false, reason: /not allowed/ },
  { name: 'unknown opcode', prog: [insn(0xffff, 0), ret()], valid: false, reason: /unknown opcode/ },
  { name: 'div by constant 0', prog: [insn(B.BPF_ALU | B.BPF_DIV | B.BPF_K, 0), ret()], valid: false, reason: /division/ },
  { name: 'div by X (checked at run time)', prog: [insn(B.BPF_ALU | B.BPF_DIV | B.BPF_X, 0), ret()], valid: true },
  { name: 'shift by 31', prog: [insn(B.BPF_ALU | B.BPF_LSH | B.BPF_K, 31), ret()], valid: true },
  { name: 'shift by 32', prog: [insn(B.BPF_ALU | B.BPF_RSH | B.BPF_K, 32), ret()], valid: false, reason: /shift/ },
  { name: 'scratch index 15', prog: [insn(B.BPF_ST, 15), insn(B.BPF_LD | B.BPF_MEM, 15), ret()], valid: true },
  { name: 'scratch index 16', prog: [insn(B.BPF_ST, 16), ret()], valid: false, reason: /scratch memory index/ },
  { name: 'read of unwritten scratch', prog: [insn(B.BPF_LD | B.BPF_MEM, 3), ret()], valid: false, reason: /before it is written/ },
  {
    name: 'scratch written on one path only',
    prog: [ld(0), jeq(1, 0, 1), insn(B.BPF_ST, 2), insn(B.BPF_LD | B.BPF_MEM, 2), ret()],
    valid: false, reason: /before it is written/,
  },
  {
    name: 'scratch written on both paths',
    prog: [insn(B.BPF_ST, 2), ld(0), jeq(1, 0, 1), insn(B.BPF_ST, 2), insn(B.BPF_LD | B.BPF_MEM, 2), ret()],
    valid: true,
  },
  { name: 'conditional jump past the end', prog: [ld(0), jeq(1, 1, 0), ret()], valid: false, reason: /past the end/ },
  { name: 'conditional jump to the last insn', prog: [ld(0), jeq(1, 1, 0), ret(), ret()], valid: true },
  { name: 'ja past the end', prog: [insn(B.BPF_JMP | B.BPF_JA, 1), ret()], valid: false, reason: /past the end/ },
  { name: 'ja with huge offset', prog: [insn(B.BPF_JMP | B.BPF_JA, 0xffffffff), ret()], valid: false },
  { name: 'last instruction not a ret', prog: [ret(), ld(0)], valid: false, reason: /RET/ },
  { name: 'ret A', prog: [ld(0), insn(B.BPF_RET | B.BPF_A)], valid: true },
  { name: 'ret X (not allowed)', prog: [insn(B.BPF_RET | B.BPF_X)], valid: false },
  { name: 'ld len / ldx len', prog: [insn(B.BPF_LD | B.BPF_W | B.BPF_LEN), insn(B.BPF_LDX | B.BPF_W | B.BPF_LEN), ret()], valid: true },
  { name: 'empty program', prog: [], valid: false, reason: /1\.\.4096/ },
  { name: '4096 instructions', prog: Array.from({ length: 4096 }, () => ret()), valid: true },
  { name: '4097 instructions (too long)', prog: Array.from({ length: 4097 }, () => ret()), valid: false, reason: /1\.\.4096/ },
  { name: 'tax/txa/neg/jset x', prog: [ld(0), insn(B.BPF_MISC | B.BPF_TAX), insn(B.BPF_ALU | B.BPF_NEG), insn(B.BPF_MISC | B.BPF_TXA), insn(B.BPF_JMP | B.BPF_JSET | B.BPF_X, 0, 0, 0), ret()], valid: true },
];
