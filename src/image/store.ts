/**
 * The content-addressed image store.
 *
 *   <root>/images/<manifest-hex>/image.json        record (manifest digest, config, layers, signatures)
 *   <root>/images/<manifest-hex>/blobs/sha256/…    manifest, config and signature bundles, as imported
 *   <root>/images/<manifest-hex>/rootfs/           the unpacked tree (mounted read-only by runs)
 *   <root>/refs/<name>:<tag>                       the manifest digest a reference points to
 *   <root>/tmp/<pid>-<random>/                     private staging of one import or removal
 *   <root>/locks/<manifest-hex>.lock               one importer per digest at a time
 *
 * An image becomes visible only by one rename(2) of a complete staging directory to
 * images/<hex>: a crash mid-import leaves only a tmp/ directory, which the next store user removes
 * once its owner is dead. Refs are single files replaced by rename, so they are never half-written.
 * Ownership inside layers is not applied: every file belongs to the store's owner.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { SandboxError } from '../errors.js';
import { copyBlobVerified, readBlob } from './blob.js';
import { blobPath, digestHex, isDigest, sha256 } from './digest.js';
import { parseConfig, parseManifest } from './documents.js';
import { findReferrerBundles, needDocuments, openLayout, readConfig, resolveImage, taggedImages, type Layout, type ResolvedImage } from './layout.js';
import { pidAlive, withLock } from './lock.js';
import { MAX_BUNDLE_BYTES, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, MT_CONFIG, MT_MANIFEST, type ImageConfig, type ImageManifest } from './media-types.js';
import { parseStrictJson } from './strict-json.js';
import { evaluateTrust, type SignatureSource, type TrustDecision } from './trust.js';
import type { TrustPolicy } from './trust-policy.js';
import { DEFAULT_LIMITS, unpackLayers, type UnpackLimits } from './unpack.js';

export interface ImageRecord {
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  configSize: number;
  layers: { digest: string; size: number; mediaType: string }[];
  /** Digests (and sizes) of the signature bundles stored with the image, re-verified before runs. */
  signatures: { digest: string; size: number }[];
  importedAt: string;
}

export interface Progress {
  start(totalBytes: number, label: string): void;
  update(doneBytes: number): void;
  stop(): void;
  /** A one-line notice (e.g. "waiting for another importer"). */
  note(message: string): void;
}

export const silentProgress: Progress = { start() {}, update() {}, stop() {}, note() {} };

export interface ImportOptions {
  name?: string;
  /** Import only this tag of the layout (default: every tagged image in it). */
  tag?: string;
  policy: TrustPolicy;
  requireSignature?: boolean;
  /** Sidecar bundle files, in addition to referrers found in the layout. */
  bundles?: string[];
  limits?: UnpackLimits;
  progress?: Progress;
}

export interface ImportResult {
  ref: string;
  digest: string;
  reused: boolean;
  trust: TrustDecision;
}

export interface ParsedRef {
  name?: string;
  tag?: string;
  digest?: string;
}

const NAME_RE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

function bad(reason: string, message: string, details: Record<string, unknown> = {}): never {
  throw new SandboxError('IMAGE', message, { reason, ...details });
}

/** Parses `name[:tag]`, `name@sha256:…`, `@sha256:…` or `sha256:…`. Tag defaults to `latest`. */
export function parseRef(ref: string): ParsedRef {
  const at = ref.indexOf('@');
  if (at >= 0 || ref.startsWith('sha256:')) {
    const name = at > 0 ? ref.slice(0, at) : undefined;
    const digest = at >= 0 ? ref.slice(at + 1) : ref;
    digestHex(digest, `reference ${ref}`);
    if (name !== undefined && !NAME_RE.test(name)) bad('invalid-ref', `invalid image name in ${JSON.stringify(ref)}`);
    return name === undefined ? { digest } : { name, digest };
  }
  const colon = ref.lastIndexOf(':');
  const name = colon > 0 ? ref.slice(0, colon) : ref;
  const tag = colon > 0 ? ref.slice(colon + 1) : 'latest';
  if (!NAME_RE.test(name)) bad('invalid-ref', `invalid image name ${JSON.stringify(name)} (lower-case letters, digits, . _ - and /)`);
  if (!TAG_RE.test(tag)) bad('invalid-ref', `invalid tag ${JSON.stringify(tag)}`);
  return { name, tag };
}

/** A default name for an imported layout: its file/directory name, sanitized. */
export function defaultName(input: string): string {
  const base = path.basename(path.resolve(input)).replace(/\.(tar|tar\.gz|tgz|tar\.zst|tzst)$/, '').toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[._-]+|[._-]+$/g, '');
  return NAME_RE.test(base) ? base : 'image';
}

/** A tag of a layout whose trust was decided (ImageStore.decide). */
interface Decided {
  tag: string;
  image: ResolvedImage;
  configBytes: Buffer;
  config: ImageConfig;
  signatures: SignatureSource[];
  trust: TrustDecision;
}

export class ImageStore {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    for (const d of ['', 'images', 'refs', 'tmp', 'locks']) {
      const dir = path.join(this.root, d);
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      checkPrivate(dir);
    }
    this.cleanStale();
  }

  /**
   * Removes staging directories and broken locks of processes that are gone (crash recovery). Runs at
   * every command: a leftover it cannot remove is left for the next one, never a reason to fail this one.
   */
  private cleanStale(): void {
    for (const d of fs.readdirSync(path.join(this.root, 'tmp'))) {
      const pid = Number.parseInt(d.split('-')[0] ?? '', 10);
      if (pidAlive(pid)) continue;
      try {
        removeTree(path.join(this.root, 'tmp', d));
      } catch { /* left for a later command, or for an administrator */ }
    }
    for (const f of fs.readdirSync(path.join(this.root, 'locks'))) {
      if (f.includes('.stale-')) fs.rmSync(path.join(this.root, 'locks', f), { force: true });
    }
  }

  private imageDir(digest: string): string {
    return path.join(this.root, 'images', digestHex(digest));
  }

  private refFile(name: string, tag: string): string {
    return path.join(this.root, 'refs', `${name.replaceAll('/', '%2F')}:${tag}`);
  }

  /** A fresh private staging directory; removed by the caller (or by cleanStale after a crash). */
  private staging(): string {
    const dir = path.join(this.root, 'tmp', `${process.pid}-${randomBytes(8).toString('hex')}`);
    fs.mkdirSync(dir, { mode: 0o700 });
    return dir;
  }

  /** `sandbox image import`: checks trust for each image of the layout, then unpacks it. */
  async import(input: string, opts: ImportOptions): Promise<ImportResult[]> {
    const stage = this.staging();
    try {
      const layout = await openLayout(input, stage, opts.limits ?? DEFAULT_LIMITS);
      const name = opts.name ?? defaultName(input);
      if (!NAME_RE.test(name)) bad('invalid-ref', `invalid image name ${JSON.stringify(name)}`);
      const tags = opts.tag !== undefined ? [opts.tag] : [...new Set(taggedImages(layout).map((t) => t.tag))];
      if (tags.length === 0) bad('ref-not-found', `${input} has no tagged image (org.opencontainers.image.ref.name)`);
      const sidecars = (opts.bundles ?? []).map((f) => ({ source: f, bytes: readSidecar(f) }));
      await needDocuments(layout, tags); // a tar: what decide() reads, and no layer
      // Every tag's trust first: a layout with a trusted and a refused tag imports nothing (it imported
      // the first and then failed on the second, saying nothing of the first).
      const decided = tags.map((tag) => this.decide(layout, tag, name, sidecars, opts));
      // Only now, every tag trusted, are layers read from a tar: in one pass, for the images the store
      // does not have yet (unpackAndPublish asks again for one that went away meanwhile).
      await layout.need?.(decided.filter((d) => !this.hasImage(d.image.digest)).flatMap((d) => d.image.manifest.layers));
      const results: ImportResult[] = [];
      for (const d of decided) results.push(await this.importOne(layout, d, name, opts, stage));
      return results;
    } finally {
      // a staging directory that cannot be removed now is cleanStale's; the import's own error (or
      // result) is what the caller must see
      try {
        removeTree(stage);
      } catch { /* left for cleanStale */ }
    }
  }

  /** One tag's image and its trust decision, on the manifest digest — BEFORE any layer is read, copied or unpacked. */
  private decide(layout: Layout, tag: string, name: string, sidecars: SignatureSource[], opts: ImportOptions): Decided {
    if (!TAG_RE.test(tag)) bad('invalid-ref', `invalid tag ${JSON.stringify(tag)} in the layout`);
    const image = resolveImage(layout, tag);
    const { bytes: configBytes, config } = readConfig(layout, image.manifest);
    const signatures: SignatureSource[] = [
      ...findReferrerBundles(layout, image.digest).map((b) => ({ source: `referrer ${b.digest}`, bytes: b.bytes })),
      ...sidecars,
    ];
    const trust = evaluateTrust(opts.policy, { name, tag, digest: image.digest, manifestBytes: image.manifestBytes }, signatures, opts.requireSignature ?? false);
    return { tag, image, configBytes, config, signatures, trust };
  }

  private async importOne(layout: Layout, d: Decided, name: string, opts: ImportOptions, stage: string): Promise<ImportResult> {
    const { tag, image, configBytes, config, signatures, trust } = d;
    const progress = opts.progress ?? silentProgress;
    let reused = true;
    await withLock(path.join(this.root, 'locks', `${digestHex(image.digest)}.lock`), async () => {
      if (this.hasImage(image.digest)) {
        this.addSignatures(image.digest, signatures);
        return;
      }
      reused = false;
      await this.unpackAndPublish(layout, image, configBytes, config, signatures, opts, stage, progress);
    }, { onWait: () => progress.note(`waiting for another import of ${image.digest}`) });
    this.writeRef(name, tag, image.digest);
    return { ref: `${name}:${tag}`, digest: image.digest, reused, trust };
  }

  private async unpackAndPublish(
    layout: Layout,
    image: ResolvedImage,
    configBytes: Buffer,
    config: ImageConfig,
    signatures: SignatureSource[],
    opts: ImportOptions,
    stage: string,
    progress: Progress,
  ): Promise<void> {
    const work = path.join(stage, digestHex(image.digest));
    fs.mkdirSync(path.join(work, 'layers'), { recursive: true, mode: 0o700 });
    fs.mkdirSync(path.join(work, 'image', 'blobs', 'sha256'), { recursive: true, mode: 0o700 });
    const rootfs = path.join(work, 'image', 'rootfs');
    fs.mkdirSync(rootfs, { mode: 0o700 });
    const total = image.manifest.layers.reduce((n, l) => n + l.size, 0);
    await layout.need?.(image.manifest.layers); // a no-op unless the image was in the store when import() asked
    progress.start(total * 3, `import ${image.digest.slice(0, 19)}`); // copy+hash, scan, extract
    try {
      // Read once, hash: each layer is copied into private staging and checked against its digest;
      // only that verified copy is parsed by the unpacker.
      const inputs = [];
      let copied = 0;
      for (const [i, l] of image.manifest.layers.entries()) {
        const file = path.join(work, 'layers', String(i));
        await copyBlobVerified(layout.dir, l, file, (opts.limits ?? DEFAULT_LIMITS).maxBytes, (n) => progress.update((copied += n)));
        inputs.push({ file, mediaType: l.mediaType, digest: l.digest, diffId: config.diffIds[i]! });
      }
      await unpackLayers(inputs, rootfs, opts.limits ?? DEFAULT_LIMITS, (n) => progress.update(total + n));
    } finally {
      progress.stop();
    }
    fs.rmSync(path.join(work, 'layers'), { recursive: true, force: true });
    const dir = path.join(work, 'image');
    writeBlobFile(dir, image.manifestBytes);
    writeBlobFile(dir, configBytes);
    for (const s of signatures) writeBlobFile(dir, s.bytes);
    const record: ImageRecord = {
      manifestDigest: image.digest,
      manifestSize: image.manifestBytes.length,
      configDigest: image.manifest.config.digest,
      configSize: configBytes.length,
      layers: image.manifest.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
      signatures: uniqueSigs(signatures),
      importedAt: new Date().toISOString(),
    };
    fs.writeFileSync(path.join(dir, 'image.json'), JSON.stringify(record, null, 2) + '\n', { mode: 0o600 });
    fs.chmodSync(dir, 0o755);
    // The one step that makes the image visible. If another importer won the race, reuse its image.
    try {
      fs.renameSync(dir, this.imageDir(image.digest));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code === 'ENOTEMPTY' || code === 'EEXIST') && this.hasImage(image.digest)) return;
      throw e;
    }
  }

  private hasImage(digest: string): boolean {
    return fs.existsSync(path.join(this.imageDir(digest), 'image.json'));
  }

  /** Adds newly seen signature bundles to an existing image (e.g. re-import after signing). */
  private addSignatures(digest: string, signatures: SignatureSource[]): void {
    const record = this.record(digest);
    const have = new Set(record.signatures.map((s) => s.digest));
    const added = uniqueSigs(signatures).filter((s) => !have.has(s.digest));
    if (added.length === 0) return;
    const dir = this.imageDir(digest);
    for (const s of signatures) writeBlobFile(dir, s.bytes);
    record.signatures.push(...added);
    atomicWrite(path.join(dir, 'image.json'), JSON.stringify(record, null, 2) + '\n');
  }

  private writeRef(name: string, tag: string, digest: string): void {
    atomicWrite(this.refFile(name, tag), digest + '\n');
  }

  /** All refs: `name:tag` → digest. */
  refs(): Map<string, string> {
    const out = new Map<string, string>();
    for (const f of fs.readdirSync(path.join(this.root, 'refs'))) {
      if (f.startsWith('.')) continue;
      const digest = fs.readFileSync(path.join(this.root, 'refs', f), 'utf8').trim();
      if (isDigest(digest)) out.set(f.replaceAll('%2F', '/'), digest);
    }
    return out;
  }

  /** Resolves a reference to a stored image digest (and the name/tag used for trust scopes). */
  resolve(ref: string): { digest: string; name?: string; tag?: string } {
    const p = parseRef(ref);
    let digest = p.digest;
    if (digest === undefined) {
      const f = this.refFile(p.name!, p.tag!);
      const content = fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim() : undefined;
      if (content === undefined) bad('ref-not-found', `no image ${p.name}:${p.tag} in the store ${this.root}; import it first`, { ref });
      digest = content;
      digestHex(digest, `ref file ${f}`);
    }
    if (!this.hasImage(digest)) bad('ref-not-found', `image ${digest} is not in the store ${this.root}`, { ref, digest });
    const out: { digest: string; name?: string; tag?: string } = { digest };
    if (p.name !== undefined) out.name = p.name;
    if (p.tag !== undefined) out.tag = p.tag;
    return out;
  }

  record(digest: string): ImageRecord {
    const file = path.join(this.imageDir(digest), 'image.json');
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch {
      bad('ref-not-found', `image ${digest} is not in the store`, { digest });
    }
    const rec = parseStrictJson(bytes, file) as ImageRecord;
    if (rec.manifestDigest !== digest) bad('store-corrupt', `${file} describes ${rec.manifestDigest}, not ${digest}`, { digest });
    return rec;
  }

  /**
   * Loads a stored image for a run or an inspection, re-hashing manifest, config and signatures,
   * and checking that the record and the rootfs directory belong to `digest`.
   */
  load(digest: string): { record: ImageRecord; manifestBytes: Buffer; manifest: ImageManifest; config: ImageConfig; signatures: SignatureSource[]; rootfs: string } {
    const record = this.record(digest);
    const dir = this.imageDir(digest);
    const manifestBytes = readBlob(dir, { mediaType: MT_MANIFEST, digest, size: record.manifestSize }, MAX_MANIFEST_BYTES);
    const manifest = parseManifest(parseStrictJson(manifestBytes, `manifest ${digest}`), `manifest ${digest}`);
    if (manifest.config.digest !== record.configDigest) bad('store-corrupt', `stored record of ${digest} names another config`, { digest });
    const configBytes = readBlob(dir, { mediaType: MT_CONFIG, digest: record.configDigest, size: record.configSize }, MAX_CONFIG_BYTES);
    const config = parseConfig(parseStrictJson(configBytes, `config ${record.configDigest}`), `config ${record.configDigest}`, manifest.layers.length);
    const signatures = record.signatures.map((s) => ({
      source: `stored bundle ${s.digest}`,
      bytes: readBlob(dir, { mediaType: 'application/octet-stream', digest: s.digest, size: s.size }, MAX_BUNDLE_BYTES),
    }));
    const rootfs = path.join(dir, 'rootfs');
    const st = fs.lstatSync(rootfs, { throwIfNoEntry: false });
    if (!st?.isDirectory()) bad('store-corrupt', `rootfs of ${digest} is missing from the store`, { digest });
    return { record, manifestBytes, manifest, config, signatures, rootfs };
  }

  /** Checks a stored image against the trust policy by digest (as before a run). */
  verifyStored(ref: string, policy: TrustPolicy, requireSignature: boolean): { digest: string; trust: TrustDecision; rootfs: string; config: ImageConfig } {
    const r = this.resolve(ref);
    const img = this.load(r.digest);
    const image: { name?: string; tag?: string; digest: string; manifestBytes: Buffer } = { digest: r.digest, manifestBytes: img.manifestBytes };
    if (r.name !== undefined) image.name = r.name;
    if (r.tag !== undefined) image.tag = r.tag;
    const trust = evaluateTrust(policy, image, img.signatures, requireSignature);
    return { digest: r.digest, trust, rootfs: img.rootfs, config: img.config };
  }

  /** `sandbox image ls`: one entry per stored image with its refs. */
  list(): { digest: string; refs: string[]; layers: number; size: number; signatures: number; importedAt: string }[] {
    const refs = this.refs();
    const out = [];
    for (const hex of fs.readdirSync(path.join(this.root, 'images')).sort()) {
      const digest = `sha256:${hex}`;
      if (!isDigest(digest) || !this.hasImage(digest)) continue;
      const rec = this.record(digest);
      out.push({
        digest,
        refs: [...refs].filter(([, d]) => d === digest).map(([r]) => r).sort(),
        layers: rec.layers.length,
        size: rec.layers.reduce((n, l) => n + l.size, 0),
        signatures: rec.signatures.length,
        importedAt: rec.importedAt,
      });
    }
    return out;
  }

  /**
   * `sandbox image rm`: removes the ref; when no ref points at the image any more (or the image
   * was named by digest), removes the image too — first renamed into tmp/, so it vanishes at once.
   */
  async remove(ref: string): Promise<{ removedRefs: string[]; removedImage?: string }> {
    const p = parseRef(ref);
    const r = this.resolve(ref);
    const removedRefs: string[] = [];
    const refs = this.refs();
    if (p.digest === undefined) {
      fs.rmSync(this.refFile(p.name!, p.tag!), { force: true });
      removedRefs.push(`${p.name}:${p.tag}`);
    } else {
      for (const [name, d] of refs) {
        if (d !== r.digest) continue;
        const i = name.lastIndexOf(':');
        fs.rmSync(this.refFile(name.slice(0, i), name.slice(i + 1)), { force: true });
        removedRefs.push(name);
      }
    }
    const stillUsed = [...this.refs().values()].includes(r.digest);
    if (stillUsed) return { removedRefs };
    await withLock(path.join(this.root, 'locks', `${digestHex(r.digest)}.lock`), async () => {
      const trash = this.staging();
      fs.renameSync(this.imageDir(r.digest), path.join(trash, 'image'));
      removeTree(trash);
    });
    return { removedRefs, removedImage: r.digest };
  }
}

function uniqueSigs(sigs: SignatureSource[]): { digest: string; size: number }[] {
  const seen = new Map<string, number>();
  for (const s of sigs) seen.set(sha256(s.bytes), s.bytes.length);
  return [...seen].map(([digest, size]) => ({ digest, size }));
}

function readSidecar(file: string): Buffer {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > MAX_BUNDLE_BYTES) bad('bundle-invalid', `${file} is not a regular file of at most ${MAX_BUNDLE_BYTES} bytes`);
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function writeBlobFile(dir: string, bytes: Buffer): void {
  const dest = blobPath(dir, sha256(bytes));
  if (!fs.existsSync(dest)) atomicWrite(dest, bytes);
}

function atomicWrite(file: string, data: string | Buffer): void {
  const tmp = path.join(path.dirname(file), `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  fs.writeFileSync(tmp, data, { mode: 0o644, flag: 'wx' });
  fs.renameSync(tmp, file);
}

/**
 * A run re-hashes an image's manifest, config and bundles, not its unpacked files: what makes them the
 * verified ones is that nobody else can write the store. So each of its directories must be a real
 * directory (not a symlink), owned by us and writable by nobody else — as the seccomp cache is checked.
 * Root running `--store` in a user's directory would otherwise run whatever that user put there.
 */
function checkPrivate(dir: string): void {
  const st = fs.lstatSync(dir);
  const euid = process.geteuid?.() ?? st.uid;
  if (!st.isDirectory() || st.uid !== euid || (st.mode & 0o022) !== 0) {
    throw new SandboxError('IMAGE',
      `image store ${dir} is not private to uid ${euid} (${st.isDirectory() ? `owner ${st.uid}, mode ${(st.mode & 0o7777).toString(8)}` : 'not a directory'}): others could replace a verified image's files there; use a store that only you can write (the default, or a directory of yours with mode 0700)`,
      { reason: 'store-not-private', dir });
  }
}

/**
 * Removes a tree of ours. Directories of an image may be read-only (0555), which stops a
 * non-root owner from deleting their entries: on EACCES make directories writable (lstat-based
 * walk, symlinks never followed) and retry.
 */
export function removeTree(dir: string): void {
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EACCES' && (e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
    const walk = (d: string): void => {
      fs.chmodSync(d, 0o700);
      for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
    };
    walk(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function defaultStoreRoot(): string {
  if (process.getuid?.() === 0) return '/var/lib/sandbox';
  const data = process.env.XDG_DATA_HOME && path.isAbsolute(process.env.XDG_DATA_HOME) ? process.env.XDG_DATA_HOME : path.join(os.homedir(), '.local', 'share');
  return path.join(data, 'sandbox');
}

export function defaultTrustPolicyPath(): string {
  if (process.getuid?.() === 0) return '/etc/sandbox/trust.json';
  const conf = process.env.XDG_CONFIG_HOME && path.isAbsolute(process.env.XDG_CONFIG_HOME) ? process.env.XDG_CONFIG_HOME : path.join(os.homedir(), '.config');
  return path.join(conf, 'sandbox', 'trust.json');
}
