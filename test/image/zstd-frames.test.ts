/**
 * zstd layers, against the two limits fzstd does not keep (src/image/zstd-frames.ts): every frame's
 * window is capped (only the first frame's was: a later one with a 1 GiB window was decoded, 1.8 GB of
 * memory for a small layer), and the decoder's copying is bounded by what the layer produces (one-byte
 * blocks under a 128 MiB window took 108 s for 40 KB). The frames are made here by hand, with raw
 * blocks (RFC 8878), so each header is exactly what the test says.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import test from 'node:test';
import { SandboxError } from '../../src/errors.js';
import { Meter, tarChunks } from '../../src/image/decompress.js';
import { MT_LAYER_ZSTD } from '../../src/image/media-types.js';
import { ZstdFrameWalker } from '../../src/image/zstd-frames.js';
import { tempDir } from './helpers.js';

/** One zstd frame (no checksum, no content size) of raw blocks of `blockSize` bytes. */
function rawFrame(content: Buffer, windowLog: number, blockSize: number): Buffer {
  const parts: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (windowLog - 10) << 3])];
  let off = 0;
  do {
    const chunk = content.subarray(off, off + blockSize);
    off += blockSize;
    const header = (off >= content.length ? 1 : 0) | (chunk.length << 3); // type 0: raw
    parts.push(Buffer.from([header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff]), chunk);
  } while (off < content.length);
  return Buffer.concat(parts);
}

const skippable = (payload: Buffer) => Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18]), Buffer.from(Uint32Array.of(payload.length).buffer), payload]);

async function decode(dir: string, bytes: Buffer): Promise<Buffer> {
  const file = path.join(dir, `layer-${randomBytes(4).toString('hex')}.zst`);
  fs.writeFileSync(file, bytes);
  const meter = new Meter({ maxBytes: 1 << 30, maxRatio: 1 << 20, ratioFloor: 1 << 20 }, { layer: 0 }, 0);
  const out: Buffer[] = [];
  for await (const c of tarChunks(file, MT_LAYER_ZSTD, meter, { layer: 0 })) out.push(c);
  return Buffer.concat(out);
}

async function refused(dir: string, bytes: Buffer, message: RegExp): Promise<void> {
  const err = await decode(dir, bytes).then(() => assert.fail('decoded; expected a refusal'), (e: unknown) => e);
  assert.ok(err instanceof SandboxError, String(err));
  assert.equal(err.details.reason, 'layer-format', err.message);
  assert.match(err.message, message);
}

test('the walker reads frame and block headers fed in any pieces, skippable frames included', () => {
  const stream = Buffer.concat([rawFrame(Buffer.alloc(300, 1), 20, 100), skippable(Buffer.alloc(7)), rawFrame(Buffer.alloc(10), 12, 4)]);
  const windows: number[] = [];
  const walker = new ZstdFrameWalker((w) => windows.push(w));
  for (const b of stream) walker.push(Uint8Array.of(b)); // byte by byte: every header split
  assert.deepEqual(windows, [2 ** 20, 2 ** 12]);
  assert.equal(walker.work, 3 * 2 ** 20 + 3 * 2 ** 12, 'three blocks per frame, each the window of its frame');
});

test('a valid multi-frame layer decodes to its bytes', async (t) => {
  const dir = tempDir(t);
  const content = randomBytes(200_000);
  const stream = Buffer.concat([rawFrame(content.subarray(0, 70_000), 20, 65_536), skippable(Buffer.from('meta')), rawFrame(content.subarray(70_000), 22, 100_000)]);
  assert.deepEqual(await decode(dir, stream), content);
});

test('a later frame with a window over the cap is refused, not only the first', async (t) => {
  const dir = tempDir(t);
  const stream = Buffer.concat([rawFrame(Buffer.alloc(1000), 20, 1000), rawFrame(Buffer.alloc(1000), 30, 1000)]);
  await refused(dir, stream, /zstd window of 1073741824 bytes exceeds the 134217728-byte limit/);
});

test('one-byte blocks under a 128 MiB window are refused at once (the decoder copies its window per block)', async (t) => {
  const dir = tempDir(t);
  await refused(dir, rawFrame(Buffer.alloc(4096, 7), 27, 1), /makes the decoder copy \d+ bytes of window for \d+ bytes of output/);
});
