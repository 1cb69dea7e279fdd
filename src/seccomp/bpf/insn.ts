/**
 * One classic BPF instruction (struct sock_filter) and its byte encoding.
 */
import { endianness } from 'node:os';
import { SeccompError } from '../errors.js';
import { SOCK_FILTER_SIZE } from './opcodes.js';

export interface Insn {
  /** u16 opcode */
  readonly code: number;
  /** u8 offset (from the next instruction) when the condition holds */
  readonly jt: number;
  /** u8 offset (from the next instruction) when it does not */
  readonly jf: number;
  /** u32 operand */
  readonly k: number;
}

export const insn = (code: number, k = 0, jt = 0, jf = 0): Insn => ({ code, jt, jf, k: k >>> 0 });

/**
 * Encodes a program as `struct sock_filter[]`: 8 bytes per instruction in the byte order of the
 * machine that loads it (the kernel reads the array as native structs). Default: this host's order.
 */
export function encodeProgram(prog: readonly Insn[], littleEndian = endianness() === 'LE'): Buffer {
  const buf = Buffer.alloc(prog.length * SOCK_FILTER_SIZE);
  prog.forEach((i, n) => {
    const o = n * SOCK_FILTER_SIZE;
    if (littleEndian) {
      buf.writeUInt16LE(i.code, o);
      buf.writeUInt32LE(i.k >>> 0, o + 4);
    } else {
      buf.writeUInt16BE(i.code, o);
      buf.writeUInt32BE(i.k >>> 0, o + 4);
    }
    buf.writeUInt8(i.jt, o + 2);
    buf.writeUInt8(i.jf, o + 3);
  });
  return buf;
}

/** Inverse of encodeProgram. Throws PROGRAM_INVALID when the length is not a multiple of 8. */
export function decodeProgram(buf: Uint8Array, littleEndian = endianness() === 'LE'): Insn[] {
  if (buf.length % SOCK_FILTER_SIZE !== 0) {
    throw new SeccompError('PROGRAM_INVALID', `a sock_filter array has a multiple of 8 bytes; got ${buf.length}`);
  }
  // DataView's getters are engine builtins: fast even before this code is optimised (a CLI start
  // decodes a cached program once, in cold code)
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Insn[] = [];
  for (let o = 0; o < buf.length; o += SOCK_FILTER_SIZE) {
    out.push({ code: v.getUint16(o, littleEndian), jt: v.getUint8(o + 2), jf: v.getUint8(o + 3), k: v.getUint32(o + 4, littleEndian) });
  }
  return out;
}
