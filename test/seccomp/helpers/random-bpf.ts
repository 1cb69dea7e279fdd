/**
 * Random valid seccomp programs that compute a value from seccomp_data with every kind of
 * instruction seccomp allows, then return it as SECCOMP_RET_ERRNO | (value >> shift & 0xfff), so the
 * kernel's result is observable as the errno of the syscall. Deterministic from a seed.
 */
import { insn, bpf as B, type Insn } from '../../../src/seccomp/index.js';

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    // xorshift32
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

export function randomU64(next: () => number): bigint {
  const pick = next() % 6;
  if (pick === 0) return 0n;
  if (pick === 1) return BigInt(next() % 64);
  if (pick === 2) return 0xffffffffffffffffn;
  return (BigInt(next()) << 32n) | BigInt(next());
}

/** Fields a program may load (not the instruction pointer: it differs between runs). */
const FIELDS = [0, 4, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60];
const ALU_OPS = [B.BPF_ADD, B.BPF_SUB, B.BPF_MUL, B.BPF_DIV, B.BPF_AND, B.BPF_OR, B.BPF_XOR, B.BPF_LSH, B.BPF_RSH];
const JMP_OPS = [B.BPF_JEQ, B.BPF_JGT, B.BPF_JGE, B.BPF_JSET];

/**
 * A program: `if nr != testNr: allow`, then a random body of `len` instructions, then the
 * ERRNO-encoding tail with the given shift.
 */
export function randomProgram(seed: number, testNr: number, len: number, shift: number): Insn[] {
  const next = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[next() % xs.length]!;
  const body: Insn[] = [];
  // Fill scratch memory first so that any later read is of a written word on every path.
  for (let m = 0; m < 16; m++) {
    body.push(insn(B.BPF_LD | B.BPF_W | B.BPF_ABS, pick(FIELDS)));
    body.push(insn(B.BPF_ST, m));
  }
  const kval = (): number => (next() % 3 === 0 ? next() % 40 : next()) >>> 0;
  for (let i = 0; i < len; i++) {
    const remaining = len - i - 1; // instructions of the body after this one
    const r = next() % 20;
    if (r < 3) body.push(insn(B.BPF_LD | B.BPF_W | B.BPF_ABS, pick(FIELDS)));
    else if (r === 3) body.push(insn(B.BPF_LD | B.BPF_IMM, kval()));
    else if (r === 4) body.push(insn(B.BPF_LDX | B.BPF_IMM, kval()));
    else if (r === 5) body.push(insn((next() & 1 ? B.BPF_LD : B.BPF_LDX) | B.BPF_MEM, next() % 16));
    else if (r === 6) body.push(insn(next() & 1 ? B.BPF_ST : B.BPF_STX, next() % 16));
    else if (r < 11) {
      const op = pick(ALU_OPS);
      let k = kval();
      if (op === B.BPF_DIV && k === 0) k = 7;
      if (op === B.BPF_LSH || op === B.BPF_RSH) k %= 32;
      body.push(insn(B.BPF_ALU | op | B.BPF_K, k));
    } else if (r < 14) body.push(insn(B.BPF_ALU | pick(ALU_OPS) | B.BPF_X));
    else if (r === 14) body.push(insn(B.BPF_ALU | B.BPF_NEG));
    else if (r === 15) body.push(insn(B.BPF_MISC | (next() & 1 ? B.BPF_TAX : B.BPF_TXA)));
    else if (r === 16) body.push(insn((next() & 1 ? B.BPF_LD : B.BPF_LDX) | B.BPF_W | B.BPF_LEN));
    else if (r < 19 && remaining > 0) {
      const src = next() & 1 ? B.BPF_X : B.BPF_K;
      body.push(insn(B.BPF_JMP | pick(JMP_OPS) | src, kval(), next() % (remaining + 1), next() % (remaining + 1)));
    } else if (remaining > 0) body.push(insn(B.BPF_JMP | B.BPF_JA, next() % (remaining + 1)));
    else body.push(insn(B.BPF_ALU | B.BPF_XOR | B.BPF_K, kval()));
  }
  const tail: Insn[] = [
    ...(shift ? [insn(B.BPF_ALU | B.BPF_RSH | B.BPF_K, shift)] : []),
    insn(B.BPF_ALU | B.BPF_AND | B.BPF_K, 0xfff),
    insn(B.BPF_ALU | B.BPF_OR | B.BPF_K, 0x00050000),
    insn(B.BPF_RET | B.BPF_A),
  ];
  return [
    insn(B.BPF_LD | B.BPF_W | B.BPF_ABS, 0),
    insn(B.BPF_JMP | B.BPF_JEQ | B.BPF_K, testNr, 1, 0),
    insn(B.BPF_RET | B.BPF_K, 0x7fff0000),
    ...body,
    ...tail,
  ];
}
