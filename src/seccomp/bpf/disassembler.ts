/**
 * Prints a program one instruction a line, with jump targets as absolute indexes and comments that
 * name what a load reads (nr, arch, args[i] hi/lo), what a constant is (arch, syscall name) and what
 * a return value means.
 */
import { type AnyArch, auditArchName } from '../arch.js';
import { decodeAction, formatAction } from '../actions.js';
import { syscallName } from '../syscalls.js';
import { type Insn } from './insn.js';
import * as O from './opcodes.js';

const ALU_NAMES: Record<number, string> = {
  [O.BPF_ADD]: 'add', [O.BPF_SUB]: 'sub', [O.BPF_MUL]: 'mul', [O.BPF_DIV]: 'div', [O.BPF_OR]: 'or',
  [O.BPF_AND]: 'and', [O.BPF_LSH]: 'lsh', [O.BPF_RSH]: 'rsh', [O.BPF_NEG]: 'neg', [O.BPF_MOD]: 'mod',
  [O.BPF_XOR]: 'xor',
};
const JMP_NAMES: Record<number, string> = {
  [O.BPF_JEQ]: 'jeq', [O.BPF_JGT]: 'jgt', [O.BPF_JGE]: 'jge', [O.BPF_JSET]: 'jset',
};

const hex = (n: number): string => '0x' + (n >>> 0).toString(16).padStart(8, '0');

/** Names the seccomp_data field at byte offset k (little-endian layout). */
export function fieldName(k: number, littleEndian = true): string | undefined {
  if (k === O.SECCOMP_DATA_NR) return 'nr';
  if (k === O.SECCOMP_DATA_ARCH) return 'arch';
  if (k === O.SECCOMP_DATA_IP) return littleEndian ? 'ip.lo' : 'ip.hi';
  if (k === O.SECCOMP_DATA_IP + 4) return littleEndian ? 'ip.hi' : 'ip.lo';
  if (k >= O.SECCOMP_DATA_ARGS && k < O.SECCOMP_DATA_SIZE && k % 4 === 0) {
    const i = (k - O.SECCOMP_DATA_ARGS) >> 3;
    const low = ((k - O.SECCOMP_DATA_ARGS) & 4) === 0 ? littleEndian : !littleEndian;
    return `args[${i}].${low ? 'lo' : 'hi'}`;
  }
  return undefined;
}

export interface DisassembleOptions {
  /** Names syscall numbers compared after `ld nr` using this arch's table. */
  readonly arch?: AnyArch;
}

/** One line per instruction. */
export function disassemble(prog: readonly Insn[], opts: DisassembleOptions = {}): string[] {
  const width = String(prog.length).length;
  let loaded: string | undefined; // what A holds, for comments (tracked linearly; good enough for our programs)
  return prog.map((i, pc) => {
    const [text, comment, nextLoaded] = one(i, pc, loaded, opts);
    loaded = nextLoaded;
    const line = `${String(pc).padStart(width, '0')}: ${text}`;
    return comment ? `${line.padEnd(44)} ; ${comment}` : line;
  });
}

function one(i: Insn, pc: number, loaded: string | undefined, opts: DisassembleOptions): [string, string?, string?] {
  const { code, k } = i;
  const cls = O.bpfClass(code);
  switch (cls) {
    case O.BPF_LD:
    case O.BPF_LDX: {
      const reg = cls === O.BPF_LD ? 'ld ' : 'ldx';
      const mode = O.bpfMode(code);
      if (mode === O.BPF_ABS) {
        const f = fieldName(k);
        return [`${reg}  [${k}]`, f, cls === O.BPF_LD ? f : loaded];
      }
      if (mode === O.BPF_LEN) return [`${reg}  len`, undefined, cls === O.BPF_LD ? 'len' : loaded];
      if (mode === O.BPF_IMM) return [`${reg}  #${hex(k)}`, undefined, cls === O.BPF_LD ? undefined : loaded];
      if (mode === O.BPF_MEM) return [`${reg}  M[${k}]`, undefined, cls === O.BPF_LD ? undefined : loaded];
      return [`.raw ${hex(code)} ${i.jt} ${i.jf} ${hex(k)}`, 'not a seccomp load'];
    }
    case O.BPF_ST: return [`st   M[${k}]`, undefined, loaded];
    case O.BPF_STX: return [`stx  M[${k}]`, undefined, loaded];
    case O.BPF_ALU: {
      const name = ALU_NAMES[O.bpfOp(code)] ?? '?alu';
      if (O.bpfOp(code) === O.BPF_NEG) return ['neg', undefined, undefined];
      const arg = O.bpfSrc(code) === O.BPF_X ? 'x' : `#${hex(k)}`;
      return [`${name.padEnd(4)} ${arg}`, undefined, loaded && `${loaded}&`];
    }
    case O.BPF_JMP: {
      if (O.bpfOp(code) === O.BPF_JA) return [`ja   ${pc + 1 + k}`, undefined, loaded];
      const name = JMP_NAMES[O.bpfOp(code)] ?? '?jmp';
      const src = O.bpfSrc(code) === O.BPF_X;
      const arg = src ? 'x' : `#${hex(k)}`;
      const text = `${name.padEnd(4)} ${arg.padEnd(12)} ${pc + 1 + i.jt}, ${pc + 1 + i.jf}`;
      return [text, src ? undefined : constantComment(O.bpfOp(code), k, loaded, opts), loaded];
    }
    case O.BPF_RET: {
      if (O.bpfRval(code) === O.BPF_A) return ['ret  a', undefined, loaded];
      return [`ret  #${hex(k)}`, formatAction(decodeAction(k)), loaded];
    }
    default: {
      const op = O.bpfMiscOp(code) === O.BPF_TAX ? 'tax' : 'txa';
      return [op, undefined, undefined];
    }
  }
}

const REL: Record<number, string> = { [O.BPF_JEQ]: '==', [O.BPF_JGT]: '>', [O.BPF_JGE]: '>=', [O.BPF_JSET]: '&' };

function constantComment(op: number, k: number, loaded: string | undefined, opts: DisassembleOptions): string | undefined {
  if (loaded === 'arch') return `arch ${REL[op]} ${auditArchName(k) ?? 'unknown arch'}`;
  if (loaded === 'nr' && opts.arch) {
    const name = syscallName(opts.arch, k);
    return name ? `nr ${REL[op]} ${name}` : undefined;
  }
  return undefined;
}
