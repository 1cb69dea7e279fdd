/**
 * Mirrors the checks the kernel runs when a seccomp filter is loaded:
 *   1. seccomp_prepare_filter / bpf_check_basics_ok: 1..BPF_MAXINSNS instructions;
 *   2. bpf_check_classic (net/core/filter.c): known opcodes, no constant division by zero, constant
 *      shifts < 32, scratch memory index < 16, jumps inside the program, last instruction a RET,
 *      and check_load_and_stores (no scratch word read before it is written on every path);
 *   3. seccomp_check_filter (kernel/seccomp.c): only the opcodes seccomp allows; absolute loads are
 *      32-bit, 4-byte aligned and inside struct seccomp_data.
 * A program this accepts is one the kernel accepts (tested against the kernel), and vice versa.
 */
import { type Insn } from './insn.js';
import * as O from './opcodes.js';

export interface ValidationError {
  /** Instruction index, or -1 for whole-program errors. */
  readonly pc: number;
  readonly message: string;
}

/** Opcodes bpf_check_classic knows (chk_code_allowed). */
const CLASSIC_CODES = new Set<number>([
  O.BPF_ALU | O.BPF_ADD | O.BPF_K, O.BPF_ALU | O.BPF_ADD | O.BPF_X,
  O.BPF_ALU | O.BPF_SUB | O.BPF_K, O.BPF_ALU | O.BPF_SUB | O.BPF_X,
  O.BPF_ALU | O.BPF_MUL | O.BPF_K, O.BPF_ALU | O.BPF_MUL | O.BPF_X,
  O.BPF_ALU | O.BPF_DIV | O.BPF_K, O.BPF_ALU | O.BPF_DIV | O.BPF_X,
  O.BPF_ALU | O.BPF_MOD | O.BPF_K, O.BPF_ALU | O.BPF_MOD | O.BPF_X,
  O.BPF_ALU | O.BPF_AND | O.BPF_K, O.BPF_ALU | O.BPF_AND | O.BPF_X,
  O.BPF_ALU | O.BPF_OR | O.BPF_K, O.BPF_ALU | O.BPF_OR | O.BPF_X,
  O.BPF_ALU | O.BPF_XOR | O.BPF_K, O.BPF_ALU | O.BPF_XOR | O.BPF_X,
  O.BPF_ALU | O.BPF_LSH | O.BPF_K, O.BPF_ALU | O.BPF_LSH | O.BPF_X,
  O.BPF_ALU | O.BPF_RSH | O.BPF_K, O.BPF_ALU | O.BPF_RSH | O.BPF_X,
  O.BPF_ALU | O.BPF_NEG,
  O.BPF_LD | O.BPF_W | O.BPF_ABS, O.BPF_LD | O.BPF_H | O.BPF_ABS, O.BPF_LD | O.BPF_B | O.BPF_ABS,
  O.BPF_LD | O.BPF_W | O.BPF_LEN,
  O.BPF_LD | O.BPF_W | O.BPF_IND, O.BPF_LD | O.BPF_H | O.BPF_IND, O.BPF_LD | O.BPF_B | O.BPF_IND,
  O.BPF_LD | O.BPF_IMM, O.BPF_LD | O.BPF_MEM,
  O.BPF_LDX | O.BPF_W | O.BPF_LEN, O.BPF_LDX | O.BPF_B | O.BPF_MSH, O.BPF_LDX | O.BPF_IMM, O.BPF_LDX | O.BPF_MEM,
  O.BPF_ST, O.BPF_STX,
  O.BPF_MISC | O.BPF_TAX, O.BPF_MISC | O.BPF_TXA,
  O.BPF_RET | O.BPF_K, O.BPF_RET | O.BPF_A,
  O.BPF_JMP | O.BPF_JA,
  O.BPF_JMP | O.BPF_JEQ | O.BPF_K, O.BPF_JMP | O.BPF_JEQ | O.BPF_X,
  O.BPF_JMP | O.BPF_JGE | O.BPF_K, O.BPF_JMP | O.BPF_JGE | O.BPF_X,
  O.BPF_JMP | O.BPF_JGT | O.BPF_K, O.BPF_JMP | O.BPF_JGT | O.BPF_X,
  O.BPF_JMP | O.BPF_JSET | O.BPF_K, O.BPF_JMP | O.BPF_JSET | O.BPF_X,
]);

/** Opcodes seccomp_check_filter lets through (everything else is -EINVAL). */
const SECCOMP_CODES = new Set<number>([
  O.BPF_LD | O.BPF_W | O.BPF_ABS, O.BPF_LD | O.BPF_W | O.BPF_LEN, O.BPF_LDX | O.BPF_W | O.BPF_LEN,
  O.BPF_RET | O.BPF_K, O.BPF_RET | O.BPF_A,
  O.BPF_ALU | O.BPF_ADD | O.BPF_K, O.BPF_ALU | O.BPF_ADD | O.BPF_X,
  O.BPF_ALU | O.BPF_SUB | O.BPF_K, O.BPF_ALU | O.BPF_SUB | O.BPF_X,
  O.BPF_ALU | O.BPF_MUL | O.BPF_K, O.BPF_ALU | O.BPF_MUL | O.BPF_X,
  O.BPF_ALU | O.BPF_DIV | O.BPF_K, O.BPF_ALU | O.BPF_DIV | O.BPF_X,
  O.BPF_ALU | O.BPF_AND | O.BPF_K, O.BPF_ALU | O.BPF_AND | O.BPF_X,
  O.BPF_ALU | O.BPF_OR | O.BPF_K, O.BPF_ALU | O.BPF_OR | O.BPF_X,
  O.BPF_ALU | O.BPF_XOR | O.BPF_K, O.BPF_ALU | O.BPF_XOR | O.BPF_X,
  O.BPF_ALU | O.BPF_LSH | O.BPF_K, O.BPF_ALU | O.BPF_LSH | O.BPF_X,
  O.BPF_ALU | O.BPF_RSH | O.BPF_K, O.BPF_ALU | O.BPF_RSH | O.BPF_X,
  O.BPF_ALU | O.BPF_NEG,
  O.BPF_LD | O.BPF_IMM, O.BPF_LDX | O.BPF_IMM,
  O.BPF_MISC | O.BPF_TAX, O.BPF_MISC | O.BPF_TXA,
  O.BPF_LD | O.BPF_MEM, O.BPF_LDX | O.BPF_MEM, O.BPF_ST, O.BPF_STX,
  O.BPF_JMP | O.BPF_JA,
  O.BPF_JMP | O.BPF_JEQ | O.BPF_K, O.BPF_JMP | O.BPF_JEQ | O.BPF_X,
  O.BPF_JMP | O.BPF_JGE | O.BPF_K, O.BPF_JMP | O.BPF_JGE | O.BPF_X,
  O.BPF_JMP | O.BPF_JGT | O.BPF_K, O.BPF_JMP | O.BPF_JGT | O.BPF_X,
  O.BPF_JMP | O.BPF_JSET | O.BPF_K, O.BPF_JMP | O.BPF_JSET | O.BPF_X,
]);

/** SKF_AD_OFF: absolute loads at or above this are "ancillary" socket-filter data. */
const SKF_AD_OFF = 0xfffff000;

const hex = (n: number): string => '0x' + (n >>> 0).toString(16);

export function isConditionalJump(code: number): boolean {
  return O.bpfClass(code) === O.BPF_JMP && O.bpfOp(code) !== O.BPF_JA;
}

/** All reasons the kernel would refuse `prog` as a seccomp filter (empty when it would load it). */
export function validateProgram(prog: readonly Insn[]): ValidationError[] {
  const errors: ValidationError[] = [];
  const flen = prog.length;
  if (flen === 0 || flen > O.BPF_MAXINSNS) {
    return [{ pc: -1, message: `a filter has 1..${O.BPF_MAXINSNS} instructions; this one has ${flen}` }];
  }
  for (let pc = 0; pc < flen; pc++) {
    const err = checkClassic(prog[pc]!, pc, flen);
    if (err) errors.push({ pc, message: err });
  }
  const last = prog[flen - 1]!.code;
  if (last !== (O.BPF_RET | O.BPF_K) && last !== (O.BPF_RET | O.BPF_A)) {
    errors.push({ pc: flen - 1, message: 'the last instruction must be a RET' });
  }
  if (errors.length === 0) errors.push(...checkLoadAndStores(prog));
  for (let pc = 0; pc < flen; pc++) {
    const err = checkSeccomp(prog[pc]!);
    if (err) errors.push({ pc, message: err });
  }
  return errors;
}

/** bpf_check_classic's per-instruction checks. */
function checkClassic(i: Insn, pc: number, flen: number): string | undefined {
  const { code, k } = i;
  if (!CLASSIC_CODES.has(code)) return `unknown opcode ${hex(code)}`;
  switch (code) {
    case O.BPF_ALU | O.BPF_DIV | O.BPF_K:
    case O.BPF_ALU | O.BPF_MOD | O.BPF_K:
      if (k === 0) return 'division by constant zero';
      return undefined;
    case O.BPF_ALU | O.BPF_LSH | O.BPF_K:
    case O.BPF_ALU | O.BPF_RSH | O.BPF_K:
      if (k >= 32) return `constant shift by ${k} (must be < 32)`;
      return undefined;
    case O.BPF_LD | O.BPF_MEM:
    case O.BPF_LDX | O.BPF_MEM:
    case O.BPF_ST:
    case O.BPF_STX:
      if (k >= O.BPF_MEMWORDS) return `scratch memory index ${k} (must be < ${O.BPF_MEMWORDS})`;
      return undefined;
    case O.BPF_JMP | O.BPF_JA:
      // The kernel compares unsigned: k >= flen - pc - 1 lands outside (or on nothing after) the program.
      if (k >= flen - pc - 1) return `ja +${k} jumps past the end of the program`;
      return undefined;
    case O.BPF_LD | O.BPF_W | O.BPF_ABS:
    case O.BPF_LD | O.BPF_H | O.BPF_ABS:
    case O.BPF_LD | O.BPF_B | O.BPF_ABS:
      // Ancillary loads (k >= SKF_AD_OFF) are either known socket extras or rejected; seccomp rejects both below.
      return undefined;
    default:
      if (isConditionalJump(code) && (pc + i.jt + 1 >= flen || pc + i.jf + 1 >= flen)) {
        return `conditional jump (jt=${i.jt}, jf=${i.jf}) lands past the end of the program`;
      }
      return undefined;
  }
}

/** seccomp_check_filter's per-instruction checks. */
function checkSeccomp(i: Insn): string | undefined {
  const { code, k } = i;
  if (!CLASSIC_CODES.has(code)) return undefined; // already reported
  if (!SECCOMP_CODES.has(code)) return `opcode ${hex(code)} is not allowed in seccomp filters`;
  if (code === (O.BPF_LD | O.BPF_W | O.BPF_ABS)) {
    if (k >= SKF_AD_OFF || k >= O.SECCOMP_DATA_SIZE) return `load at offset ${k} is outside struct seccomp_data (${O.SECCOMP_DATA_SIZE} bytes)`;
    if (k & 3) return `load at offset ${k} is not 4-byte aligned`;
  }
  return undefined;
}

/**
 * check_load_and_stores: a scratch word may be read only if it was written on every path reaching
 * the read. Like the kernel, this walks the program once in order: jumps narrow the valid set of
 * their targets, and the instruction after a jump starts from "everything valid" narrowed by the
 * jumps that target it.
 */
function checkLoadAndStores(prog: readonly Insn[]): ValidationError[] {
  const masks = new Array<number>(prog.length).fill(0xffff);
  let memvalid = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    memvalid &= masks[pc]!;
    const { code, k, jt, jf } = prog[pc]!;
    if (code === O.BPF_ST || code === O.BPF_STX) {
      memvalid |= 1 << k;
    } else if (code === (O.BPF_LD | O.BPF_MEM) || code === (O.BPF_LDX | O.BPF_MEM)) {
      if (!(memvalid & (1 << k))) return [{ pc, message: `scratch word M[${k}] may be read before it is written` }];
    } else if (code === (O.BPF_JMP | O.BPF_JA)) {
      masks[pc + 1 + k] = masks[pc + 1 + k]! & memvalid;
      memvalid = 0xffff;
    } else if (isConditionalJump(code)) {
      masks[pc + 1 + jt] = masks[pc + 1 + jt]! & memvalid;
      masks[pc + 1 + jf] = masks[pc + 1 + jf]! & memvalid;
      memvalid = 0xffff;
    }
  }
  return [];
}

/** A fail-fast form of validateProgram: the error names the first problem. */
export function isValidProgram(prog: readonly Insn[]): boolean {
  return validateProgram(prog).length === 0;
}
