/**
 * Decompression of a layer file into plain tar chunks, with a meter that refuses compression
 * bombs while they inflate (before the bytes are written anywhere): the total uncompressed size is
 * capped, and so is the ratio uncompressed/compressed once past a small floor.
 * gzip uses node:zlib; zstd uses fzstd (pure JS; no zstd in Node 20's zlib).
 */
import fs from 'node:fs';
import { Transform, pipeline } from 'node:stream';
import zlib from 'node:zlib';
import { Decompress } from 'fzstd';
import { SandboxError } from '../errors.js';
import { MT_LAYER_GZIP, MT_LAYER_TAR, MT_LAYER_ZSTD } from './media-types.js';
import { ZstdFrameWalker } from './zstd-frames.js';

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
/** zstd decoders default to refusing windows above 128 MiB (zstd --long=27); so do we. */
const MAX_ZSTD_WINDOW = 128 << 20;
/**
 * fzstd copies its window for every block (zstd-frames.ts): the copying allowed per byte a layer
 * produces, and a slack for small layers. Full 128 KiB blocks under the largest window copy 1,024
 * bytes per byte produced (64 under zstd's default 8 MiB); one-byte blocks under it, 128 Mi.
 */
const ZSTD_WORK_PER_BYTE = 4096;
const ZSTD_WORK_SLACK = 8 * 2 ** 30;

export interface MeterLimits {
  maxBytes: number;
  maxRatio: number;
  /** The ratio is only enforced past this many uncompressed bytes (tiny layers compress well). */
  ratioFloor: number;
}

export class Meter {
  compressed = 0;
  uncompressed = 0;
  constructor(
    private readonly limits: MeterLimits,
    private readonly where: Record<string, unknown>,
    private readonly totalBefore: number,
    /** What is inflating, for the messages: a layer, or a layout tar. */
    private readonly what = 'layer',
  ) {}

  addCompressed(n: number): void {
    this.compressed += n;
  }

  addUncompressed(n: number): void {
    this.uncompressed += n;
    if (this.totalBefore + this.uncompressed > this.limits.maxBytes) {
      throw new SandboxError('IMAGE', `image is larger than the limit of ${this.limits.maxBytes} uncompressed bytes; refused`, {
        ...this.where,
        reason: 'too-large',
      });
    }
    if (this.uncompressed > this.limits.ratioFloor && this.uncompressed > this.limits.maxRatio * Math.max(1, this.compressed)) {
      throw new SandboxError('IMAGE', `${this.what} inflates more than ${this.limits.maxRatio}x (compression bomb?); refused`, {
        ...this.where,
        reason: 'compression-ratio',
      });
    }
  }
}

export type Compression = 'gzip' | 'zstd' | 'none';

/**
 * Names what is inflated, for errors: a layer (reason `layer-format`) or a layout tar
 * (`layout-format`), and the details every error of it carries.
 */
export interface Inflating {
  what: string;
  formatReason: string;
  where: Record<string, unknown>;
}

export function sniff(buf: Buffer): Compression {
  if (buf.length >= 2 && buf.subarray(0, 2).equals(GZIP_MAGIC)) return 'gzip';
  if (buf.length >= 4 && buf.subarray(0, 4).equals(ZSTD_MAGIC)) return 'zstd';
  return 'none';
}

function formatError(message: string, subject: Inflating): SandboxError {
  return new SandboxError('IMAGE', message, { ...subject.where, reason: subject.formatReason });
}

/** The compression of `file`, from its first bytes. */
export function sniffFile(file: string): Compression {
  const head = Buffer.alloc(4);
  const fd = fs.openSync(file, 'r');
  try {
    return sniff(head.subarray(0, fs.readSync(fd, head, 0, 4, 0)));
  } finally {
    fs.closeSync(fd);
  }
}

/** Yields the uncompressed tar bytes of `file`, whose media type was declared as `mediaType`. */
export async function* tarChunks(file: string, mediaType: string, meter: Meter, where: Record<string, unknown>): AsyncGenerator<Buffer> {
  const actual = sniffFile(file);
  const declared = mediaType === MT_LAYER_GZIP ? 'gzip' : mediaType === MT_LAYER_ZSTD ? 'zstd' : mediaType === MT_LAYER_TAR ? 'none' : undefined;
  // The media type must say what the bytes are: a "tar" that is really gzip (or the reverse) is
  // media-type confusion, refused rather than sniffed and accepted.
  if (declared === undefined || declared !== actual) {
    throw new SandboxError('IMAGE', `layer content is ${actual === 'none' ? 'not compressed' : actual} but its media type is ${mediaType}; refused`, {
      ...where,
      reason: 'media-type',
    });
  }
  yield* inflate(file, declared, meter, { what: 'layer', formatReason: 'layer-format', where });
}

/** Yields the uncompressed bytes of `file`, compressed as `format`, through `meter`. */
export async function* inflate(file: string, format: Compression, meter: Meter, subject: Inflating): AsyncGenerator<Buffer> {
  if (format === 'none') {
    for await (const c of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
      meter.addCompressed((c as Buffer).length);
      meter.addUncompressed((c as Buffer).length);
      yield c as Buffer;
    }
  } else if (format === 'gzip') {
    yield* gunzipChunks(file, meter, subject);
  } else {
    yield* zstdChunks(file, meter, subject);
  }
}

async function* gunzipChunks(file: string, meter: Meter, subject: Inflating): AsyncGenerator<Buffer> {
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      meter.addCompressed(chunk.length);
      cb(null, chunk);
    },
  });
  const gunzip = zlib.createGunzip();
  const out = pipeline(fs.createReadStream(file, { highWaterMark: 1 << 20 }), counter, gunzip, () => undefined);
  try {
    for await (const c of out) {
      meter.addUncompressed((c as Buffer).length);
      yield c as Buffer;
    }
  } catch (e) {
    if (e instanceof SandboxError) throw e;
    throw formatError(`${subject.what} is not valid gzip: ${(e as Error).message}`, subject);
  }
}

async function* zstdChunks(file: string, meter: Meter, subject: Inflating): AsyncGenerator<Buffer> {
  let queue: Buffer[] = [];
  // fzstd hands out views of its window buffer, which it reuses: copy each chunk. The meter runs
  // inside the callback so an RLE bomb stops within one pushed slice.
  let produced = 0;
  const d = new Decompress((data) => {
    meter.addUncompressed(data.length);
    produced += data.length;
    queue.push(Buffer.from(data));
  });
  // Every frame's window, so a frame cannot make us allocate gigabytes (the first one's was the only
  // one checked), and the decoder's copying held against what the layer produced.
  const frames = new ZstdFrameWalker((w) => {
    if (w > MAX_ZSTD_WINDOW) throw formatError(`zstd window of ${w} bytes exceeds the ${MAX_ZSTD_WINDOW}-byte limit`, subject);
  });
  try {
    for await (const c of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
      const buf = c as Buffer;
      meter.addCompressed(buf.length);
      for (let off = 0; off < buf.length; off += 64 << 10) {
        const slice = buf.subarray(off, Math.min(buf.length, off + (64 << 10)));
        frames.push(slice);
        if (frames.work > ZSTD_WORK_PER_BYTE * produced + ZSTD_WORK_SLACK) {
          throw formatError(`zstd ${subject.what} makes the decoder copy ${frames.work} bytes of window for ${produced} bytes of output (blocks far smaller than their window); refused`, subject);
        }
        d.push(slice);
        if (queue.length) {
          const q = queue;
          queue = [];
          yield* q;
        }
      }
    }
    d.push(new Uint8Array(0), true);
  } catch (e) {
    if (e instanceof SandboxError) throw e;
    throw formatError(`${subject.what} is not valid zstd: ${(e as Error).message}`, subject);
  }
  yield* queue;
}
