/**
 * An OCI layout given as a tar, read in passes. Each pass streams the whole tar again (node-tar as a
 * header parser only), checks every entry — only `oci-layout`, `index.json` and
 * `blobs/sha256/<64 hex>` regular files, each name once — and writes only the entries it is asked
 * for, each of exactly the size asked; every other entry is read past, never written. What reaches
 * the staging directory, and when, is the caller's decision (layout.ts, store.ts): the documents
 * before trust, the layers only after it.
 *
 * A gzip or zstd tar is inflated here, through the same meter as layers (total size and ratio,
 * checked while inflating), not by node-tar, whose only cap is a 1000x ratio.
 * Nothing rests on the file staying the same between passes: each pass checks every entry again,
 * and blobs are digest-checked when read (blob.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { Parser, type ReadEntry } from 'tar';
import { SandboxError } from '../errors.js';
import { Meter, inflate, sniff, sniffFile, type MeterLimits } from './decompress.js';
import { DIGEST_RE } from './digest.js';

/** An entry a pass writes: a top-level file of at most `max` bytes, or a blob of exactly `size` bytes. */
export type Want = { max: number } | { size: number; digest: string };

function bad(reason: string, message: string, details: Record<string, unknown> = {}): never {
  throw new SandboxError('IMAGE', message, { reason, ...details });
}

/**
 * Extracts from the layout tar `file` into `dest` the entries named in `wanted` (names as in the
 * layout: `index.json`, `blobs/sha256/<hex>`), after checking every entry of the tar. An entry not
 * in the tar is not an error here: reading the blob reports it missing.
 */
export async function extractFromLayoutTar(file: string, dest: string, wanted: ReadonlyMap<string, Want>, limits: MeterLimits): Promise<void> {
  const seen = new Set<string>();
  let total = 0;
  const open = new Set<number>();
  try {
    await parseTar(file, limits, (entry, fail) => {
      const name = layoutEntryName(entry);
      if (name === undefined) return void entry.resume();
      if (seen.has(name)) bad('duplicate-entry', `layout tar has ${name} twice; refused`);
      seen.add(name);
      total += entry.size;
      if (total > limits.maxBytes) bad('too-large', `layout tar holds more than ${limits.maxBytes} bytes`);
      const want = wanted.get(name);
      if (want === undefined) return void entry.resume(); // not asked for (yet): read past, never written
      checkSize(name, entry.size, want);
      writeEntry(entry, path.join(dest, name), entry.size, open, fail);
    });
  } finally {
    for (const fd of open) fs.closeSync(fd); // a pass stopped mid-entry
  }
}

/**
 * The layout name of an entry (`./` and trailing `/` dropped), or undefined for an entry that is
 * read past: the layout's directories, and blobs of other algorithms (never named by a digest we
 * accept). Anything else that is not a regular `oci-layout`, `index.json` or `blobs/sha256/<64 hex>`
 * is refused, whether or not this pass wants it.
 */
function layoutEntryName(entry: ReadEntry): string | undefined {
  const name = entry.path.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  if (entry.type === 'Directory' && (name === '' || name === 'blobs' || name === 'blobs/sha256' || /^blobs\/[a-z0-9]+$/.test(name))) return undefined;
  const isBlob = /^blobs\/sha256\/[^/]+$/.test(name);
  if (isBlob && !DIGEST_RE.test('sha256:' + name.slice('blobs/sha256/'.length))) {
    bad('malformed-digest', `layout tar entry ${JSON.stringify(name)} is not named by a valid sha256 digest`);
  }
  if (!(name === 'oci-layout' || name === 'index.json' || isBlob)) {
    if (entry.type === 'File' && /^blobs\/[a-z0-9]+\//.test(name)) return undefined;
    bad('unsafe-path', `layout tar has the unexpected entry ${JSON.stringify(name)} (${entry.type}); refused`);
  }
  if (entry.type !== 'File' && entry.type !== 'OldFile') bad('unsafe-path', `layout tar entry ${name} is a ${entry.type}, not a regular file; refused`);
  return name;
}

/**
 * Decided from the entry's header, before a byte of it is written: a blob of another size than its
 * descriptor declares is not that blob (and one far larger would otherwise fill the disk first).
 */
function checkSize(name: string, size: number, want: Want): void {
  if ('max' in want) {
    if (size > want.max) bad('blob-too-large', `layout tar entry ${name} is larger than ${want.max} bytes`);
  } else if (size !== want.size) {
    bad('size-mismatch', `blob ${want.digest} is ${size} bytes in the layout tar but its descriptor says ${want.size}`, { blob: want.digest, digest: want.digest });
  }
}

/** Writes the entry to `file` (created exclusively, never through a symlink), at most `size` bytes. */
function writeEntry(entry: ReadEntry, file: string, size: number, open: Set<number>, fail: (e: Error) => void): void {
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  open.add(fd);
  let written = 0;
  let failed = false;
  entry.on('data', (c: Buffer) => {
    if (failed) return;
    try {
      // node-tar hands out exactly the header's size; the bound is the point of the pass, so kept here too
      if (written + c.length > size) bad('size-mismatch', `layout tar entry ${entry.path} holds more than its ${size} bytes`);
      fs.writeSync(fd, c);
      written += c.length;
    } catch (e) {
      failed = true;
      fail(e as Error);
    }
  });
  entry.on('end', () => {
    open.delete(fd);
    fs.closeSync(fd);
  });
}

/**
 * Streams the tar `file`, inflated (gzip, zstd or none, from its first bytes) through a meter,
 * into node-tar's parser; `onEntry` sees each entry, and may throw or call `fail` to stop the pass.
 */
async function parseTar(file: string, limits: MeterLimits, onEntry: (e: ReadEntry, fail: (e: Error) => void) => void): Promise<void> {
  let failure: Error | undefined;
  const fail = (e: Error): void => {
    failure ??= e;
  };
  // zstd: false — we inflate; only gzip magic is still sniffed by node-tar, refused below.
  const parser = new Parser({ strict: true, zstd: false, maxMetaEntrySize: 1 << 20 });
  // node-tar skips sparse files, volume labels and metadata over 1 MiB, and only says so here: the
  // next entry would get the wrong name. Refused, as in layers (unpack.ts).
  parser.on('ignoredEntry', (e: ReadEntry) => {
    fail(new SandboxError('IMAGE', `layout tar entry ${JSON.stringify(String(e.path ?? '').slice(0, 200))} of type ${String(e.type)} cannot be read (sparse, volume label, or metadata over 1 MiB); refused`, { reason: 'unsupported-entry' }));
    e.resume();
  });
  parser.on('entry', (e: ReadEntry) => {
    if (failure) return void e.resume();
    try {
      onEntry(e, fail);
    } catch (err) {
      fail(err as Error);
      e.resume();
    }
  });
  const ended = new Promise<void>((resolve, reject) => {
    parser.on('error', (e: Error) => reject(e));
    parser.on('close', () => resolve());
  });
  ended.catch(() => undefined);
  const meter = new Meter(limits, {}, 0, 'layout tar');
  let head: Buffer | undefined = Buffer.alloc(0);
  try {
    for await (const chunk of inflate(file, sniffFile(file), meter, { what: 'layout tar', formatReason: 'layout-format', where: {} })) {
      if (head !== undefined) {
        // A tar inside the compression, not another compression: node-tar would inflate it again, unmetered.
        head = Buffer.concat([head, chunk.subarray(0, 4)]);
        if (sniff(head) !== 'none') bad('layout-format', `${file} is compressed twice; refused`);
        if (head.length >= 4) head = undefined;
      }
      if (!parser.write(chunk)) await once(parser, 'drain');
      if (failure) throw failure;
    }
    parser.end();
    await ended;
  } catch (e) {
    if (failure) throw failure;
    if (e instanceof SandboxError) throw e;
    bad('layout-format', `${file} is not a readable tar of an OCI layout: ${(e as Error).message}`);
  }
  if (failure) throw failure;
}
