/**
 * The one fact `sandbox doctor` reads from an ELF file: its program interpreter (PT_INTERP), the
 * dynamic loader it names — or null for a statically linked program. Little-endian ELF64 only (the
 * hosts this runs on); anything else is an error naming the file.
 */
import { closeSync, openSync, readSync } from 'node:fs';

const PT_INTERP = 3;

function readAt(fd: number, length: number, position: number): Buffer {
  const b = Buffer.alloc(length);
  if (readSync(fd, b, 0, length, position) !== length) throw new Error('truncated');
  return b;
}

export function elfInterpreter(path: string): string | null {
  const fd = openSync(path, 'r');
  try {
    const h = readAt(fd, 64, 0);
    if (h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2 || h[5] !== 1) throw new Error('not a little-endian ELF64 file');
    const phoff = Number(h.readBigUInt64LE(0x20));
    const phentsize = h.readUInt16LE(0x36);
    const phnum = h.readUInt16LE(0x38);
    for (let i = 0; i < phnum; i++) {
      const ph = readAt(fd, 56, phoff + i * phentsize);
      if (ph.readUInt32LE(0) !== PT_INTERP) continue;
      const at = Number(ph.readBigUInt64LE(8)); // p_offset
      const size = Number(ph.readBigUInt64LE(32)); // p_filesz, with its NUL
      return readAt(fd, Math.min(size, 4096), at).toString('latin1').replace(/\0.*$/s, '');
    }
    return null;
  } catch (e) {
    throw new Error(`${path}: cannot read its ELF headers: ${(e as Error).message}`);
  } finally {
    closeSync(fd);
  }
}
