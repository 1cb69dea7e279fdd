/**
 * Safe unpack of OCI layers into a rootfs directory.
 *
 * node-tar parses headers (pax, GNU long names, checksums); every file-system effect is decided
 * and performed here, so the library is never trusted with paths. The rootfs lives in a private
 * (0700) staging directory that only this process writes, which is why an lstat-then-act check
 * is race-free here. Rules, each with its reason:
 *  - absolute paths and `..` components are refused (they name places outside the rootfs);
 *  - a parent component that is a symlink is refused (writing through it escapes the rootfs);
 *  - hardlinks must name a regular file already extracted, by a path obeying the same rules
 *    (a link to something outside, or to a name a later entry fills, is the classic escape);
 *  - files are always created fresh (unlink, then O_CREAT|O_EXCL|O_NOFOLLOW), so an existing
 *    hardlink or symlink at that name is replaced, never written through;
 *  - device nodes and FIFOs are refused (a rootless store cannot make them, and a root one must
 *    not: a device node in an image is a door to the host's hardware);
 *  - setuid/setgid bits are stripped, and no xattrs are applied at all (security.* among them:
 *    file capabilities would be privilege grants chosen by the image author);
 *  - ownership is not applied: everything belongs to the store's owner;
 *  - whiteouts (`.wh.NAME`, `.wh..wh..opq`) remove lower-layer content only, whatever the order of
 *    the layer's entries (image-spec: a whiteout applies to lower layers);
 *  - a header the kernel cannot apply (an mtime that is no time) is refused in pass 1, as node-tar's
 *    strict parse refuses other malformed headers;
 *  - entry count, total size and compression ratio are capped (see decompress.ts).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Parser, type ReadEntry } from 'tar';
import { SandboxError } from '../errors.js';
import { Meter, sniff, tarChunks } from './decompress.js';

export interface UnpackLimits {
  maxEntries: number;
  maxBytes: number;
  maxRatio: number;
  ratioFloor: number;
}

export const DEFAULT_LIMITS: UnpackLimits = {
  maxEntries: 500_000, // /usr of a full Debian desktop is ~150k entries
  maxBytes: 32 * 2 ** 30,
  maxRatio: 100, // real layers inflate 2–10x; 1e6 empty files compress ~60x
  ratioFloor: 32 << 20,
};

export interface LayerInput {
  file: string; // private, already digest-checked copy of the layer blob
  mediaType: string;
  digest: string;
  diffId: string; // from the config: digest of the uncompressed tar
}

/** Progress in compressed bytes; pass 1 and pass 2 each count every layer once. */
export interface UnpackProgress {
  (compressedBytesDone: number): void;
}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
const O_NEWFILE = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

/** State shared across the layers of one image. */
class Tree {
  /** Relative paths known to be real directories (created or lstat-checked by us). */
  private dirs = new Set<string>(['']);
  /** Directory modes/mtimes applied at the end (while unpacking, dirs stay writable by us). */
  private dirMeta = new Map<string, { mode: number; mtime?: Date }>();
  entries = 0;
  bytes = 0;

  constructor(readonly root: string) {}

  abs(rel: string): string {
    return rel === '' ? this.root : this.root + '/' + rel;
  }

  forget(rel: string): void {
    this.dirs.delete(rel);
    this.dirMeta.delete(rel);
    const prefix = rel + '/';
    for (const d of this.dirs) if (d.startsWith(prefix)) this.dirs.delete(d);
    for (const d of this.dirMeta.keys()) if (d.startsWith(prefix)) this.dirMeta.delete(d);
  }

  /**
   * Makes sure every parent of `parts` is a real directory, creating missing ones (0755, as tar
   * does). Refuses when a parent is a symlink (`symlink-write`) or a non-directory.
   * With `create` false, returns false instead of creating (used by whiteouts and hardlink targets).
   */
  parents(parts: string[], create: boolean, fail: Fail): boolean {
    let rel = '';
    for (let i = 0; i < parts.length - 1; i++) {
      rel = rel === '' ? parts[i]! : rel + '/' + parts[i]!;
      if (this.dirs.has(rel)) continue;
      const st = fs.lstatSync(this.abs(rel), { throwIfNoEntry: false });
      if (!st) {
        if (!create) return false;
        fs.mkdirSync(this.abs(rel), 0o700);
        this.dirMeta.set(rel, { mode: 0o755 });
      } else if (st.isSymbolicLink()) {
        fail('symlink-write', `its parent ${rel} is a symlink; writing through symlinks is refused`);
      } else if (!st.isDirectory()) {
        fail('not-a-directory', `its parent ${rel} is not a directory`);
      }
      this.dirs.add(rel);
    }
    return true;
  }

  /** Removes whatever is at `rel` (recursively for a directory; symlinks are removed, not followed). */
  remove(rel: string): void {
    fs.rmSync(this.abs(rel), { recursive: true, force: true });
    this.forget(rel);
  }

  setDirMeta(rel: string, mode: number, mtime?: Date): void {
    this.dirMeta.set(rel, mtime ? { mode, mtime } : { mode });
  }

  markDir(rel: string): void {
    this.dirs.add(rel);
  }

  /** Applies directory modes deepest first, only to what is still a real directory. */
  finish(): void {
    const rels = [...this.dirMeta.keys()].sort((a, b) => b.length - a.length);
    for (const rel of rels) {
      const st = fs.lstatSync(this.abs(rel), { throwIfNoEntry: false });
      if (!st?.isDirectory()) continue;
      const meta = this.dirMeta.get(rel)!;
      fs.chmodSync(this.abs(rel), meta.mode);
      if (meta.mtime) fs.utimesSync(this.abs(rel), meta.mtime, meta.mtime);
    }
    fs.chmodSync(this.root, 0o755);
  }
}

type Fail = (reason: string, message: string) => never;

/**
 * Path limits of an entry, so that every file of a rootfs can be made, read and removed through the
 * store's own path (which adds its prefix) without ENAMETOOLONG, and a removal's recursion stays
 * shallow: a layer with a file 1,800 directories deep once made every later command of the store fail
 * (its stale-staging cleanup overflowed the stack). Real images stay far below these.
 */
const MAX_PATH_BYTES = 3072;
const MAX_DEPTH = 256;
const MAX_NAME_BYTES = 255; // NAME_MAX
export const MAX_LINK_TARGET_BYTES = 4095; // PATH_MAX - 1: what symlink(2) takes

/** Splits a tar path into components, refusing absolute paths, `..`, NUL and paths past the limits. */
export function safeParts(raw: string, fail: Fail, what = 'path'): string[] {
  if (raw.includes('\0')) fail('unsafe-path', `${what} contains a NUL byte`);
  if (raw.startsWith('/')) fail('absolute-path', `${what} is absolute; refused`);
  if (Buffer.byteLength(raw) > MAX_PATH_BYTES) fail('path-too-long', `${what} is longer than ${MAX_PATH_BYTES} bytes; refused`);
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) fail('path-traversal', `${what} contains ".."; refused`);
  if (parts.length > MAX_DEPTH) fail('path-too-long', `${what} is more than ${MAX_DEPTH} directories deep; refused`);
  if (parts.some((p) => Buffer.byteLength(p) > MAX_NAME_BYTES)) fail('path-too-long', `${what} has a name longer than ${MAX_NAME_BYTES} bytes; refused`);
  return parts;
}

/** setuid/setgid stripped: an image must not carry privilege-raising bits into a run. */
function safeMode(mode: number | undefined, fallback: number): number {
  return (mode ?? fallback) & 0o1777;
}

/** Unpacks `layers` in order into `rootfs` (an empty private directory). */
export async function unpackLayers(
  layers: LayerInput[],
  rootfs: string,
  limits: UnpackLimits = DEFAULT_LIMITS,
  onProgress?: UnpackProgress,
): Promise<void> {
  // Pass 1, nothing written: entry count, sizes, ratio, path syntax, node types and diff_ids of
  // every layer. A bomb or a malformed layer is refused before the first file is created.
  const totals = { entries: 0, bytes: 0 };
  let done = 0;
  for (const [i, layer] of layers.entries()) {
    await scanLayer(layer, i, limits, totals, (n) => onProgress?.(done + n));
    done += fs.statSync(layer.file).size;
  }
  // Pass 2: extraction, with the checks that depend on the tree (symlinks, hardlinks).
  const tree = new Tree(rootfs);
  for (const [i, layer] of layers.entries()) {
    await unpackLayer(tree, layer, i, limits, (n) => onProgress?.(done + n));
    done += fs.statSync(layer.file).size;
  }
  tree.finish();
}

/** Feeds the tar bytes of `layer` to a node-tar Parser; returns the diff_id of those bytes. */
async function parseLayer(layer: LayerInput, index: number, meter: Meter, onEntry: (e: ReadEntry) => void, onProgress?: UnpackProgress): Promise<string> {
  const where = { blob: layer.digest, digest: layer.digest, layer: index };
  const diff = createHash('sha256');
  let failure: Error | undefined;
  const parser = new Parser({ strict: true, zstd: false, maxMetaEntrySize: 1 << 20 });
  // node-tar skips what it does not extract (GNU sparse 'S', volume labels 'V', a pax or long-name
  // header past maxMetaEntrySize) and only says so with this event: the next entry then gets the
  // wrong name, and other tools would see files that we silently drop. Refused, like any unsupported type.
  parser.on('ignoredEntry', (e: ReadEntry) => {
    failure ??= new SandboxError('IMAGE', `layer ${index} (${layer.digest}): entry ${JSON.stringify(String(e.path ?? '').slice(0, 200))} of type ${String(e.type)} cannot be unpacked (sparse, volume label, or metadata over 1 MiB); refused`, { ...where, reason: 'unsupported-entry' });
    e.resume();
  });
  parser.on('entry', (e: ReadEntry) => {
    if (failure) return void e.resume();
    try {
      onEntry(e);
    } catch (err) {
      failure = err as Error;
      e.resume();
    }
  });
  const ended = new Promise<void>((resolve, reject) => {
    parser.on('error', (e: Error) => reject(e));
    parser.on('close', () => resolve());
  });
  ended.catch(() => undefined);
  let head: Buffer | undefined = Buffer.alloc(0);
  for await (const chunk of tarChunks(layer.file, layer.mediaType, meter, where)) {
    if (head !== undefined) {
      // Compressed twice (or a tar whose first name starts with magic bytes): node-tar would
      // silently decompress again, so the content would not be what the media type says.
      // Checked on the first 4 bytes of the stream, however the decompressor chunks it.
      head = Buffer.concat([head, chunk.subarray(0, 4)]);
      if (sniff(head) !== 'none') {
        throw new SandboxError('IMAGE', `layer ${index} (${layer.digest}) is compressed inside its compression; refused`, { ...where, reason: 'media-type' });
      }
      if (head.length >= 4) head = undefined;
    }
    diff.update(chunk);
    if (!parser.write(chunk)) await new Promise<void>((r) => parser.once('drain', () => r()));
    if (failure) throw failure;
    onProgress?.(meter.compressed);
  }
  parser.end();
  try {
    await ended;
  } catch (e) {
    if (failure) throw failure;
    throw new SandboxError('IMAGE', `layer ${index} (${layer.digest}) is not a valid tar: ${(e as Error).message}`, { ...where, reason: 'layer-format' });
  }
  if (failure) throw failure;
  return 'sha256:' + diff.digest('hex');
}

function failer(layer: LayerInput, index: number, current: () => string): Fail {
  return (reason, message) => {
    throw new SandboxError('IMAGE', `layer ${index} (${layer.digest}): entry ${JSON.stringify(current())}: ${message}`, {
      blob: layer.digest,
      digest: layer.digest,
      layer: index,
      reason,
      entry: current(),
    });
  };
}

/** Pass 1 for one layer: stateless checks only; writes nothing. */
async function scanLayer(layer: LayerInput, index: number, limits: UnpackLimits, totals: { entries: number; bytes: number }, onProgress: UnpackProgress): Promise<void> {
  let current = '';
  const fail: Fail = failer(layer, index, () => current);
  const meter = new Meter({ maxBytes: limits.maxBytes, maxRatio: limits.maxRatio, ratioFloor: limits.ratioFloor }, { blob: layer.digest, digest: layer.digest, layer: index }, totals.bytes);
  const diffId = await parseLayer(layer, index, meter, (entry) => {
    current = entry.path;
    if (++totals.entries > limits.maxEntries) fail('too-many-entries', `the image has more than ${limits.maxEntries} entries; refused`);
    const parts = safeParts(entry.path, fail);
    if (/^(Symbolic)?Link$/.test(entry.type)) {
      if (!entry.linkpath || entry.linkpath.includes('\0')) fail('unsafe-path', 'link target is empty or contains NUL');
      if (Buffer.byteLength(entry.linkpath) > MAX_LINK_TARGET_BYTES) fail('path-too-long', `link target is longer than ${MAX_LINK_TARGET_BYTES} bytes; refused`);
    }
    if (entry.type === 'Link') {
      const failLink: Fail = (reason, message) =>
        fail(reason === 'absolute-path' || reason === 'path-traversal' ? 'hardlink-outside' : reason, `hardlink target: ${message}`);
      safeParts(entry.linkpath ?? '', failLink, `target ${JSON.stringify(entry.linkpath)}`);
    }
    checkMtime(entry, fail);
    if (parts.length > 0 && parts[parts.length - 1]!.startsWith(WHITEOUT)) checkWhiteoutName(parts[parts.length - 1]!, fail);
    else if (entry.type === 'CharacterDevice' || entry.type === 'BlockDevice') fail('device-node', `${entry.type} nodes are refused`);
    else if (entry.type === 'FIFO') fail('fifo-node', 'FIFO nodes are refused');
    else if (!SUPPORTED_TYPES.has(entry.type)) fail('unsupported-entry', `tar entry type ${entry.type} is not supported`);
    entry.resume();
  }, onProgress);
  totals.bytes += meter.uncompressed;
  if (diffId !== layer.diffId) {
    throw new SandboxError('IMAGE', `layer ${index} (${layer.digest}) uncompresses to ${diffId}, but the config's diff_id is ${layer.diffId}; refused`, {
      blob: layer.digest,
      digest: layer.digest,
      layer: index,
      reason: 'diffid-mismatch',
    });
  }
}

/**
 * A pax `mtime` out of Date's range or not a number (`1e400`, `-1e30`, `abc`) gives an Invalid Date,
 * which futimes/utimes reject with EINVAL in the middle of pass 2: refused here, before anything is
 * written. Any valid Date is applied (the kernel clamps it to what the file system stores).
 */
function checkMtime(entry: ReadEntry, fail: Fail): void {
  if (entry.mtime !== undefined && !Number.isFinite(entry.mtime.getTime())) {
    fail('layer-format', 'its mtime is not a valid time (out of range or not a number); refused');
  }
}

const SUPPORTED_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);

function checkWhiteoutName(base: string, fail: Fail): void {
  if (base === OPAQUE) return;
  if (base.startsWith(WHITEOUT + WHITEOUT)) fail('unsupported-entry', `unknown special whiteout ${base}`);
  const name = base.slice(WHITEOUT.length);
  if (name === '' || name === '.' || name === '..') fail('path-traversal', `whiteout names ${JSON.stringify(name)}; refused`);
}

async function unpackLayer(tree: Tree, layer: LayerInput, index: number, limits: UnpackLimits, onProgress: UnpackProgress): Promise<void> {
  const where = { blob: layer.digest, digest: layer.digest, layer: index };
  const claims = new LayerClaims(tree); // what this layer made: its whiteouts hide lower layers only
  const meter = new Meter({ maxBytes: limits.maxBytes, maxRatio: limits.maxRatio, ratioFloor: limits.ratioFloor }, where, tree.bytes);
  let current = '';
  const fail: Fail = failer(layer, index, () => current);

  const onEntry = (entry: ReadEntry): void => {
    current = entry.path;
    if (++tree.entries > limits.maxEntries) fail('too-many-entries', `the image has more than ${limits.maxEntries} entries; refused`);
    const parts = safeParts(entry.path, fail);
    if (parts.length === 0) {
      // The root itself ("./"): its mode is ours to choose; nothing to create.
      entry.resume();
      return;
    }
    const rel = parts.join('/');
    const base = parts[parts.length - 1]!;
    if (base.startsWith(WHITEOUT)) {
      whiteout(tree, parts, claims, fail);
      entry.resume();
      return;
    }
    switch (entry.type) {
      case 'Directory': {
        tree.parents(parts, true, fail);
        const st = fs.lstatSync(tree.abs(rel), { throwIfNoEntry: false });
        if (st && !st.isDirectory()) tree.remove(rel);
        if (!st || !st.isDirectory()) fs.mkdirSync(tree.abs(rel), 0o700);
        tree.markDir(rel);
        tree.setDirMeta(rel, safeMode(entry.mode, 0o755), entry.mtime);
        claims.claim(rel);
        entry.resume();
        return;
      }
      case 'File':
      case 'OldFile':
      case 'ContiguousFile': {
        tree.parents(parts, true, fail);
        tree.bytes += entry.size;
        const fd = createFresh(tree, rel);
        claims.claim(rel);
        const mode = safeMode(entry.mode, 0o644);
        const mtime = entry.mtime;
        entry.on('data', (c: Buffer) => {
          fs.writeSync(fd, c);
        });
        entry.on('end', () => {
          fs.fchmodSync(fd, mode);
          if (mtime) fs.futimesSync(fd, mtime, mtime);
          fs.closeSync(fd);
        });
        return;
      }
      case 'SymbolicLink': {
        const target = entry.linkpath ?? '';
        if (target.includes('\0') || target === '') fail('unsafe-path', 'symlink target is empty or contains NUL');
        tree.parents(parts, true, fail);
        replace(tree, rel);
        // The target is stored verbatim and never followed by us; at run time it resolves inside
        // the container's root.
        fs.symlinkSync(target, tree.abs(rel));
        claims.claim(rel);
        entry.resume();
        return;
      }
      case 'Link': {
        const failLink: Fail = (reason, message) =>
          fail(reason === 'absolute-path' || reason === 'path-traversal' || reason === 'symlink-write' ? 'hardlink-outside' : reason, `hardlink target: ${message}`);
        const tparts = safeParts(entry.linkpath ?? '', failLink, `target ${JSON.stringify(entry.linkpath)}`);
        const trel = tparts.join('/');
        if (tparts.length === 0) failLink('hardlink-outside', 'target is the root');
        if (trel === rel) fail('hardlink-target', 'hardlink to itself');
        const exists = tree.parents(tparts, false, failLink);
        const tst = exists ? fs.lstatSync(tree.abs(trel), { throwIfNoEntry: false }) : undefined;
        if (!tst) fail('hardlink-forward', `hardlink target ${trel} is not extracted yet (forward or dangling link); refused`);
        if (!tst.isFile()) fail('hardlink-target', `hardlink target ${trel} is not a regular file; refused`);
        tree.parents(parts, true, fail);
        replace(tree, rel);
        fs.linkSync(tree.abs(trel), tree.abs(rel));
        claims.claim(rel);
        entry.resume();
        return;
      }
      case 'CharacterDevice':
      case 'BlockDevice':
        fail('device-node', `${entry.type} nodes are refused`);
      // eslint-disable-next-line no-fallthrough
      case 'FIFO':
        fail('fifo-node', 'FIFO nodes are refused');
      // eslint-disable-next-line no-fallthrough
      default:
        fail('unsupported-entry', `tar entry type ${entry.type} is not supported`);
    }
  };

  const diffId = await parseLayer(layer, index, meter, onEntry, onProgress);
  // Pass 1 checked this already; a difference now means the staged file changed under us.
  if (diffId !== layer.diffId) {
    throw new SandboxError('IMAGE', `layer ${index} (${layer.digest}) changed between scan and unpack; refused`, { ...where, reason: 'diffid-mismatch' });
  }
}

/**
 * Creates a new empty file at `rel` (O_EXCL|O_NOFOLLOW: never opens an existing file, link or
 * hardlinked inode). If something is already there, it is removed first and the create retried.
 */
function createFresh(tree: Tree, rel: string): number {
  try {
    return fs.openSync(tree.abs(rel), O_NEWFILE, 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  replace(tree, rel);
  return fs.openSync(tree.abs(rel), O_NEWFILE, 0o600);
}

/** Makes room for a new entry at `rel`: removes a file, link or directory that is there. */
function replace(tree: Tree, rel: string): void {
  const st = fs.lstatSync(tree.abs(rel), { throwIfNoEntry: false });
  if (!st) return;
  if (st.isDirectory()) tree.remove(rel);
  else fs.unlinkSync(tree.abs(rel));
}

/** `dir/name` (`name` at the root). */
const child = (dir: string, name: string): string => (dir === '' ? name : dir + '/' + name);
const parentOf = (rel: string): string => rel.slice(0, Math.max(0, rel.lastIndexOf('/')));

/**
 * What one layer made, so that its whiteouts remove lower-layer content only, whatever the order of
 * its entries (`a/b` then `.wh.a` keeps `a/b`): the paths of its entries and every directory leading
 * to one, created by it or not (removing that directory would remove the entry).
 */
class LayerClaims {
  private made = new Set<string>();
  /** Directories already emptied of lower-layer content: lower content never comes back within a
   * layer, so each is cleared once (N whiteouts of one big directory are not N² work). */
  private cleared = new Set<string>();

  constructor(private readonly tree: Tree) {}

  claim(rel: string): void {
    // every claimed path's parents are claimed, so the walk up stops at the first one already known
    for (let p = rel; p !== '' && !this.made.has(p); p = parentOf(p)) this.made.add(p);
  }

  /** `.wh.NAME`: removes `rel` if lower layers made it, else only the lower-layer content under it. */
  hide(rel: string): void {
    if (this.made.has(rel)) return this.clear(rel);
    if (fs.lstatSync(this.tree.abs(rel), { throwIfNoEntry: false })) this.tree.remove(rel);
  }

  /** `.wh..wh..opq`: removes the lower-layer content of directory `rel` (not followed if a symlink). */
  clear(rel: string): void {
    if (this.cleared.has(rel)) return;
    const st = fs.lstatSync(this.tree.abs(rel), { throwIfNoEntry: false });
    if (!st?.isDirectory()) return;
    this.cleared.add(rel);
    for (const name of fs.readdirSync(this.tree.abs(rel))) this.hide(child(rel, name));
  }
}

function whiteout(tree: Tree, parts: string[], claims: LayerClaims, fail: Fail): void {
  const base = parts[parts.length - 1]!;
  const dirRel = parts.slice(0, -1).join('/');
  // Parents of a whiteout are not created: if they do not exist there is nothing to hide.
  if (!tree.parents(parts, false, fail)) return;
  if (base === OPAQUE) return claims.clear(dirRel);
  if (base.startsWith(WHITEOUT + WHITEOUT)) fail('unsupported-entry', `unknown special whiteout ${base}`);
  const name = base.slice(WHITEOUT.length);
  if (name === '' || name === '.' || name === '..') fail('path-traversal', `whiteout names ${JSON.stringify(name)}; refused`);
  claims.hide(child(dirRel, name));
}
