/**
 * Runs a seccomp BPF program on one struct seccomp_data the way the kernel does.
 *
 * Kernel facts this follows (kernel/seccomp.c, net/core/filter.c bpf_convert_filter):
 * - A and X start at 0; scratch memory starts undefined (the validator forbids reading it unwritten).
 * - `ld [k]` reads a native-endian 32-bit word of seccomp_data; `ld len`/`ldx len` give 64.
 * - ALU is 32-bit unsigned; dividing by X == 0 ends the program with return value 0 (KILL_THREAD).
 * - Shifts by X use the low 5 bits of X (what the eBPF interpreter and the x86/arm64 JITs do).
 * Only programs accepted by validateProgram are run.
 */
import { SeccompError } from '../errors.js';
import { type Insn } from './insn.js';
import * as O from './opcodes.js';
import { validateProgram } from './validate.js';

export interface SeccompData {
  /** Syscall number as the u32 the filter sees (the kernel's `int nr`). */
  readonly nr: number;
  /** AUDIT_ARCH_* value. */
  readonly arch: number;
  readonly instructionPointer?: bigint;
  /** Up to six 64-bit arguments (missing ones are 0). */
  readonly args?: readonly bigint[];
}

export interface RunResult {
  /** The 32-bit return value. */
  readonly ret: number;
  /** Instruction indexes executed, in order. */
  readonly path: number[];
}

const M32 = 0xffffffffn;

/** Serialises seccomp_data as the kernel lays it out in memory (64 bytes). */
export function seccompDataBytes(d: SeccompData, littleEndian = true): Buffer {
  const b = Buffer.alloc(O.SECCOMP_DATA_SIZE);
  const u32 = (v: number, o: number): void => {
    if (littleEndian) b.writeUInt32LE(v >>> 0, o);
    else b.writeUInt32BE(v >>> 0, o);
  };
  const u64 = (v: bigint, o: number): void => {
    const x = BigInt.asUintN(64, v);
    if (littleEndian) b.writeBigUInt64LE(x, o);
    else b.writeBigUInt64BE(x, o);
  };
  u32(d.nr, O.SECCOMP_DATA_NR);
  u32(d.arch, O.SECCOMP_DATA_ARCH);
  u64(d.instructionPointer ?? 0n, O.SECCOMP_DATA_IP);
  for (let i = 0; i < 6; i++) u64(d.args?.[i] ?? 0n, O.SECCOMP_DATA_ARGS + 8 * i);
  return b;
}

const validated = new WeakSet<readonly Insn[]>();

/** The return value of `prog` for `data`. Throws PROGRAM_INVALID for a program the kernel would refuse. */
export function runFilter(prog: readonly Insn[], data: SeccompData, littleEndian = true): number {
  return execute(prog, data, littleEndian, undefined);
}

/** runFilter, also returning the executed path (for `explain` and tests). */
export function traceFilter(prog: readonly Insn[], data: SeccompData, littleEndian = true): RunResult {
  const path: number[] = [];
  const ret = execute(prog, data, littleEndian, path);
  return { ret, path };
}

function execute(prog: readonly Insn[], data: SeccompData, littleEndian: boolean, path: number[] | undefined): number {
  if (!validated.has(prog)) {
    const errors = validateProgram(prog);
    if (errors.length) {
      throw new SeccompError('PROGRAM_INVALID', `the kernel would refuse this program: at ${errors[0]!.pc}: ${errors[0]!.message}`);
    }
    validated.add(prog);
  }
  const mem = seccompDataBytes(data, littleEndian);
  const word = (k: number): number => (littleEndian ? mem.readUInt32LE(k) : mem.readUInt32BE(k));
  const M = new Uint32Array(O.BPF_MEMWORDS);
  let A = 0;
  let X = 0;
  let pc = 0;
  for (;;) {
    const i = prog[pc]!;
    path?.push(pc);
    const { code, k } = i;
    switch (O.bpfClass(code)) {
      case O.BPF_LD:
      case O.BPF_LDX: {
        const v = loadValue(code, k, word, M);
        if (O.bpfClass(code) === O.BPF_LD) A = v;
        else X = v;
        break;
      }
      case O.BPF_ST:
        M[k] = A;
        break;
      case O.BPF_STX:
        M[k] = X;
        break;
      case O.BPF_ALU: {
        if (O.bpfOp(code) === O.BPF_NEG) {
          A = -A >>> 0;
          break;
        }
        const src = O.bpfSrc(code) === O.BPF_X ? X : k;
        if (O.bpfOp(code) === O.BPF_DIV && src === 0) return 0; // only reachable with X == 0
        A = alu(O.bpfOp(code), A, src);
        break;
      }
      case O.BPF_JMP: {
        if (O.bpfOp(code) === O.BPF_JA) {
          pc += k;
          break;
        }
        const src = O.bpfSrc(code) === O.BPF_X ? X : k;
        pc += compare(O.bpfOp(code), A, src) ? i.jt : i.jf;
        break;
      }
      case O.BPF_RET:
        return (O.bpfRval(code) === O.BPF_A ? A : k) >>> 0;
      case O.BPF_MISC:
        if (O.bpfMiscOp(code) === O.BPF_TAX) X = A;
        else A = X;
        break;
    }
    pc++;
  }
}

function loadValue(code: number, k: number, word: (k: number) => number, M: Uint32Array): number {
  switch (O.bpfMode(code)) {
    case O.BPF_ABS: return word(k);
    case O.BPF_LEN: return O.SECCOMP_DATA_SIZE;
    case O.BPF_IMM: return k >>> 0;
    case O.BPF_MEM: return M[k]!;
    default: throw new SeccompError('PROGRAM_INVALID', `load mode ${code} is not allowed in seccomp`);
  }
}

function alu(op: number, a: number, b: number): number {
  switch (op) {
    case O.BPF_ADD: return (a + b) >>> 0;
    case O.BPF_SUB: return (a - b) >>> 0;
    case O.BPF_MUL: return Math.imul(a, b) >>> 0;
    case O.BPF_DIV: return Math.floor(a / b) >>> 0;
    case O.BPF_AND: return (a & b) >>> 0;
    case O.BPF_OR: return (a | b) >>> 0;
    case O.BPF_XOR: return (a ^ b) >>> 0;
    case O.BPF_LSH: return (a << (b & 31)) >>> 0;
    case O.BPF_RSH: return a >>> (b & 31);
    default: throw new SeccompError('PROGRAM_INVALID', `ALU operation ${op} is not allowed in seccomp`);
  }
}

function compare(op: number, a: number, b: number): boolean {
  switch (op) {
    case O.BPF_JEQ: return a === b >>> 0;
    case O.BPF_JGT: return a > b >>> 0;
    case O.BPF_JGE: return a >= b >>> 0;
    case O.BPF_JSET: return (a & b) !== 0;
    default: throw new SeccompError('PROGRAM_INVALID', `jump operation ${op} is not allowed`);
  }
}

/** Splits a 64-bit value into the two 32-bit words a filter loads. */
export function split64(v: bigint): { hi: number; lo: number } {
  const x = BigInt.asUintN(64, v);
  return { hi: Number(x >> 32n), lo: Number(x & M32) };
}

/**
 * The kernel's constant-action cache (Linux >= 5.11, seccomp_is_const_allow): it emulates the
 * program with only `nr` and `arch` known and caches "allow" for a syscall when the path reaches
 * `ret ALLOW` through loads of nr/arch, K-jumps, `ja` and `and K` alone. Returns true when this
 * program would be cached as always-allow for (arch, nr).
 */
export function isConstantAllow(prog: readonly Insn[], arch: number, nr: number): boolean {
  let reg = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    const { code, k, jt, jf } = prog[pc]!;
    switch (code) {
      case O.BPF_LD | O.BPF_W | O.BPF_ABS:
        if (k === O.SECCOMP_DATA_NR) reg = nr >>> 0;
        else if (k === O.SECCOMP_DATA_ARCH) reg = arch >>> 0;
        else return false;
        break;
      case O.BPF_RET | O.BPF_K:
        return k >>> 0 === 0x7fff0000;
      case O.BPF_JMP | O.BPF_JA:
        pc += k;
        break;
      case O.BPF_JMP | O.BPF_JEQ | O.BPF_K:
      case O.BPF_JMP | O.BPF_JGE | O.BPF_K:
      case O.BPF_JMP | O.BPF_JGT | O.BPF_K:
      case O.BPF_JMP | O.BPF_JSET | O.BPF_K:
        pc += compare(O.bpfOp(code), reg, k) ? jt : jf;
        break;
      case O.BPF_ALU | O.BPF_AND | O.BPF_K:
        reg = (reg & k) >>> 0;
        break;
      default:
        return false;
    }
  }
  return false;
}
