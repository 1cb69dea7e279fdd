/**
 * Walks the frame and block headers of a zstd stream as it is fed, beside the decoder (fzstd, which
 * does not expose them), for two limits the decoder does not keep:
 *  - every frame's window is checked against the cap, not only the first frame's (fzstd accepts
 *    windows up to ~2 GiB in later frames: 1.8 GB of memory for a small layer);
 *  - the decoding work: fzstd's streaming decoder copies its whole window for every block, so a layer
 *    of one-byte raw blocks under a 128 MiB window took 108 s for 40 KB of input. `work` is that copy
 *    (the window size, per block), for the caller to hold against the bytes the layer produced.
 * Only headers are read (block contents are skipped by length); anything that is not a zstd or a
 * skippable frame stops the walk, and the decoder reports the stream as invalid.
 * Format: RFC 8878, sections 3.1.1 (frames), 3.1.1.2 (blocks), 3.1.2 (skippable frames).
 */

const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MAGIC_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

/** A frame header's length from its first 5 bytes (magic + descriptor). */
function frameHeaderLength(descriptor: number): number {
  const singleSegment = (descriptor >> 5) & 1;
  const dictBytes = [0, 1, 2, 4][descriptor & 3]!;
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][descriptor >> 6]!;
  return 5 + (singleSegment ? 0 : 1) + dictBytes + fcsBytes;
}

/** The window of a complete frame header (RFC 8878 3.1.1.1.2; single segment: the content size). */
export function frameWindow(h: Buffer): number {
  const descriptor = h[4]!;
  if (!((descriptor >> 5) & 1)) {
    const wd = h[5]!;
    const base = 2 ** (10 + (wd >> 3));
    return base + (base / 8) * (wd & 7);
  }
  const off = 5 + [0, 1, 2, 4][descriptor & 3]!;
  const fcsBytes = [1, 2, 4, 8][descriptor >> 6]!;
  let v = 0;
  for (let i = fcsBytes - 1; i >= 0; i--) v = v * 256 + h[off + i]!;
  return fcsBytes === 2 ? v + 256 : v;
}

export class ZstdFrameWalker {
  /** window bytes the decoder copies: the window of each block's frame, summed over the blocks */
  work = 0;
  private pending = Buffer.alloc(0); // a header split across pushes
  private skip = 0; // payload bytes still to pass over
  private state: 'frame' | 'block' | 'checksum' | 'stopped' = 'frame';
  private window = 0;
  private checksum = false;

  /** `onWindow` is called with each frame's window; it may throw to refuse the stream. */
  constructor(private readonly onWindow: (window: number) => void) {}

  push(chunk: Uint8Array): void {
    const data = this.pending.length ? Buffer.concat([this.pending, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.pending = Buffer.alloc(0);
    let p = 0;
    while (p < data.length && this.state !== 'stopped') {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length - p);
        this.skip -= n;
        p += n;
        continue;
      }
      const need = this.headerLength(data, p);
      if (need === null || data.length - p < need) break; // wait for more bytes
      this.header(data.subarray(p, p + need));
      p += need;
    }
    if (p < data.length && this.state !== 'stopped') this.pending = Buffer.from(data.subarray(p));
  }

  /** Bytes of the next header, or null until enough bytes are there to tell. */
  private headerLength(d: Buffer, p: number): number | null {
    const left = d.length - p;
    if (this.state === 'block') return 3;
    if (this.state === 'checksum') return 4;
    if (left < 5) return null;
    const magic = d.readUInt32LE(p);
    if (magic === ZSTD_MAGIC) return frameHeaderLength(d[p + 4]!);
    if (((magic & SKIPPABLE_MAGIC_MASK) >>> 0) === SKIPPABLE_MAGIC) return 8;
    this.state = 'stopped'; // not zstd: the decoder says so
    return null;
  }

  private header(h: Buffer): void {
    if (this.state === 'checksum') {
      this.state = 'frame';
      return;
    }
    if (this.state === 'block') {
      const v = h[0]! | (h[1]! << 8) | (h[2]! << 16);
      const type = (v >> 1) & 3;
      this.skip = type === 1 ? 1 : v >>> 3; // RLE: one byte; raw and compressed: their size
      this.work += this.window;
      if (v & 1) this.state = this.checksum ? 'checksum' : 'frame';
      return;
    }
    if (h.readUInt32LE(0) === ZSTD_MAGIC) {
      this.window = frameWindow(h);
      this.checksum = ((h[4]! >> 2) & 1) === 1;
      this.onWindow(this.window);
      this.state = 'block';
      return;
    }
    this.skip = h.readUInt32LE(4); // a skippable frame: its payload
  }
}
