/**
 * Reading blobs of an OCI layout: read once, hash, then parse.
 *
 * Every blob is opened with O_NOFOLLOW (a symlinked blob could make a privileged importer read a
 * file the layout's author cannot), checked with fstat on the open descriptor to be a regular file
 * of exactly the size its descriptor declares (no FIFO that blocks us, no device, no truncation
 * or padding games), and hashed. Only the bytes that were hashed are ever parsed: small documents
 * are returned as a Buffer, large layers are copied into a private staging file whose digest has
 * been checked before the unpacker sees it.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { SandboxError } from '../errors.js';
import { blobPath, digestHex } from './digest.js';
import type { Descriptor } from './media-types.js';

const O_READ = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

function fail(reason: string, message: string, digest: string): never {
  throw new SandboxError('IMAGE', message, { reason, blob: digest, digest });
}

/** The layout's `blobs` and `blobs/sha256` must be real directories, not symlinks to elsewhere. */
export function checkBlobDirs(dir: string): void {
  for (const sub of ['blobs', 'blobs/sha256']) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(`${dir}/${sub}`);
    } catch {
      throw new SandboxError('IMAGE', `${dir} is not an OCI image layout: ${sub}/ is missing`, { reason: 'not-a-layout' });
    }
    if (!st.isDirectory()) {
      throw new SandboxError('IMAGE', `${dir}/${sub} is not a directory (symlinks are refused)`, { reason: 'not-a-layout' });
    }
  }
}

/** Opens a blob and checks it is a regular file of exactly `desc.size` bytes. Returns the fd. */
function openChecked(dir: string, desc: Descriptor, maxSize: number): number {
  digestHex(desc.digest, 'blob');
  if (!Number.isSafeInteger(desc.size) || desc.size < 0) fail('invalid-descriptor', `descriptor of ${desc.digest} has an invalid size`, desc.digest);
  if (desc.size > maxSize) fail('blob-too-large', `blob ${desc.digest} declares ${desc.size} bytes, more than the limit ${maxSize}`, desc.digest);
  const file = blobPath(dir, desc.digest);
  let fd: number;
  try {
    fd = fs.openSync(file, O_READ);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') fail('blob-symlink', `blob ${desc.digest} is a symlink; refused`, desc.digest);
    if (code === 'ENOENT') fail('blob-missing', `blob ${desc.digest} is missing from the layout`, desc.digest);
    throw new SandboxError('IMAGE', `cannot open blob ${desc.digest}: ${(e as Error).message}`, { reason: 'blob-unreadable', blob: desc.digest });
  }
  const st = fs.fstatSync(fd);
  if (!st.isFile()) {
    fs.closeSync(fd);
    fail('blob-not-regular', `blob ${desc.digest} is not a regular file; refused`, desc.digest);
  }
  if (st.size !== desc.size) {
    fs.closeSync(fd);
    fail('size-mismatch', `blob ${desc.digest} is ${st.size} bytes but its descriptor says ${desc.size}`, desc.digest);
  }
  return fd;
}

function checkDigest(actual: string, desc: Descriptor): void {
  if (actual !== desc.digest) {
    fail('digest-mismatch', `blob ${desc.digest} does not match its digest (content hashes to ${actual}); the image was tampered with or corrupted`, desc.digest);
  }
}

/** Reads a small blob (manifest, index, config, bundle) into memory after the checks above. */
export function readBlob(dir: string, desc: Descriptor, maxSize: number): Buffer {
  const fd = openChecked(dir, desc, maxSize);
  try {
    const buf = Buffer.alloc(desc.size);
    let off = 0;
    while (off < desc.size) {
      const n = fs.readSync(fd, buf, off, desc.size - off, null);
      if (n === 0) break;
      off += n;
    }
    // A file that grew or shrank after fstat is refused: the bytes we hash must be all the bytes.
    if (off !== desc.size || fs.readSync(fd, Buffer.alloc(1), 0, 1, null) !== 0) {
      fail('size-mismatch', `blob ${desc.digest} changed size while being read`, desc.digest);
    }
    checkDigest('sha256:' + createHash('sha256').update(buf).digest('hex'), desc);
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Copies a (large) blob into `dest` (created exclusively, mode 0600) while hashing it, and checks
 * digest and size before returning. The caller parses only `dest`, which lives in a private
 * directory, so the bytes parsed are exactly the bytes hashed. `onBytes` reports progress.
 */
export async function copyBlobVerified(
  dir: string,
  desc: Descriptor,
  dest: string,
  maxSize: number,
  onBytes?: (n: number) => void,
): Promise<void> {
  const fd = openChecked(dir, desc, maxSize);
  const out = await fs.promises.open(dest, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  let total = 0;
  try {
    for (;;) {
      const n = await new Promise<number>((resolve, reject) =>
        fs.read(fd, buf, 0, buf.length, null, (err, bytes) => (err ? reject(err) : resolve(bytes))),
      );
      if (n === 0) break;
      total += n;
      if (total > desc.size) break;
      hash.update(buf.subarray(0, n));
      await out.write(buf, 0, n);
      onBytes?.(n);
    }
  } finally {
    fs.closeSync(fd);
    await out.close();
  }
  if (total !== desc.size) fail('size-mismatch', `blob ${desc.digest} changed size while being read`, desc.digest);
  checkDigest('sha256:' + hash.digest('hex'), desc);
}
