/**
 * OCI image layouts (a directory, or a tar of one): oci-layout, index.json, blobs/sha256/<hex>.
 * Resolves references (`TAG` from org.opencontainers.image.ref.name, or `@sha256:…`), reads and
 * validates index, manifest and config (hashed before parsing, see blob.ts), and finds sigstore
 * bundles attached as OCI 1.1 referrers.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Parser, type ReadEntry } from 'tar';
import { SandboxError } from '../errors.js';
import { checkBlobDirs, readBlob } from './blob.js';
import { DIGEST_RE, isDigest } from './digest.js';
import { checkImageManifest, hostArchitecture, isBundleReferrer, parseConfig, parseIndex, parseManifest } from './documents.js';
import {
  ANNOTATION_REF_NAME,
  MAX_BUNDLE_BYTES,
  MAX_CONFIG_BYTES,
  MAX_INDEX_BYTES,
  MAX_MANIFEST_BYTES,
  MT_INDEX,
  MT_MANIFEST,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
} from './media-types.js';
import { parseStrictJson } from './strict-json.js';

export interface Layout {
  /** Directory holding oci-layout, index.json and blobs/ (a private copy when the input was a tar). */
  dir: string;
  index: ImageIndex;
}

export interface ResolvedImage {
  descriptor: Descriptor;
  digest: string;
  manifestBytes: Buffer;
  manifest: ImageManifest;
  /** Tag from index.json, when the image was found by tag or carries one. */
  tag?: string;
}

function bad(reason: string, message: string, details: Record<string, unknown> = {}): never {
  throw new SandboxError('IMAGE', message, { reason, ...details });
}

/** Reads a small top-level file of the layout (not content-addressed): no symlink, regular, capped. */
function readTopFile(dir: string, name: string, max: number): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(path.join(dir, name), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    bad('not-a-layout', `${dir} is not an OCI image layout: cannot open ${name} (${code === 'ELOOP' ? 'it is a symlink' : code})`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) bad('not-a-layout', `${dir}/${name} is not a regular file`);
    if (st.size > max) bad('blob-too-large', `${dir}/${name} is larger than ${max} bytes`);
    const buf = Buffer.alloc(st.size);
    const n = st.size === 0 ? 0 : fs.readSync(fd, buf, 0, st.size, 0);
    return buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

/** Opens a layout directory: checks oci-layout and parses index.json strictly. */
export function openLayoutDir(dir: string): Layout {
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  if (!st?.isDirectory()) bad('not-a-layout', `${dir} is not a directory or a tar of an OCI image layout`);
  const marker = parseStrictJson(readTopFile(dir, 'oci-layout', 4096), `${dir}/oci-layout`);
  if (typeof marker !== 'object' || marker === null || (marker as Record<string, unknown>).imageLayoutVersion !== '1.0.0') {
    bad('not-a-layout', `${dir}/oci-layout must say {"imageLayoutVersion": "1.0.0"}`);
  }
  checkBlobDirs(dir);
  const index = parseIndex(parseStrictJson(readTopFile(dir, 'index.json', MAX_INDEX_BYTES), `${dir}/index.json`), 'index.json');
  return { dir, index };
}

/**
 * Opens a layout given as a directory or as a tar (optionally gzip-compressed). A tar is extracted
 * into `stagingDir` (private to this import), accepting only oci-layout, index.json and
 * blobs/sha256/<64 hex> as regular files; links, devices and duplicate names are refused.
 */
export async function openLayout(input: string, stagingDir: string, maxBytes: number): Promise<Layout> {
  const st = fs.statSync(input, { throwIfNoEntry: false });
  if (!st) bad('not-a-layout', `${input} does not exist`);
  if (st.isDirectory()) return openLayoutDir(input);
  if (!st.isFile()) bad('not-a-layout', `${input} is neither a directory nor a tar file`);
  const dest = path.join(stagingDir, 'layout');
  fs.mkdirSync(path.join(dest, 'blobs', 'sha256'), { recursive: true, mode: 0o700 });
  await extractLayoutTar(input, dest, maxBytes);
  return openLayoutDir(dest);
}

async function extractLayoutTar(file: string, dest: string, maxBytes: number): Promise<void> {
  const seen = new Set<string>();
  let total = 0;
  let failure: Error | undefined;
  const parser = new Parser({ strict: true });
  const onEntry = (entry: ReadEntry): void => {
    const name = entry.path.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
    if (entry.type === 'Directory' && (name === '' || name === 'blobs' || name === 'blobs/sha256' || /^blobs\/[a-z0-9]+$/.test(name))) {
      entry.resume();
      return;
    }
    const isBlob = /^blobs\/sha256\/[^/]+$/.test(name);
    if (isBlob && !DIGEST_RE.test('sha256:' + name.slice('blobs/sha256/'.length))) {
      bad('malformed-digest', `layout tar entry ${JSON.stringify(name)} is not named by a valid sha256 digest`);
    }
    if (!(name === 'oci-layout' || name === 'index.json' || isBlob)) {
      if (entry.type === 'File' && /^blobs\/[a-z0-9]+\//.test(name)) {
        entry.resume(); // blobs of other algorithms: never referenced by a digest we accept
        return;
      }
      bad('unsafe-path', `layout tar has the unexpected entry ${JSON.stringify(name)} (${entry.type}); refused`);
    }
    if (entry.type !== 'File' && entry.type !== 'OldFile') bad('unsafe-path', `layout tar entry ${name} is a ${entry.type}, not a regular file; refused`);
    if (seen.has(name)) bad('duplicate-entry', `layout tar has ${name} twice; refused`);
    seen.add(name);
    total += entry.size;
    if (total > maxBytes) bad('too-large', `layout tar holds more than ${maxBytes} bytes`);
    const fd = fs.openSync(path.join(dest, name), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    entry.on('data', (c: Buffer) => fs.writeSync(fd, c));
    entry.on('end', () => fs.closeSync(fd));
  };
  parser.on('entry', (e: ReadEntry) => {
    if (failure) return void e.resume();
    try {
      onEntry(e);
    } catch (err) {
      failure = err as Error;
      e.resume();
      parser.abort(failure);
    }
  });
  const done = new Promise<void>((resolve, reject) => {
    parser.on('error', (e: Error) => reject(failure ?? e));
    parser.on('close', () => resolve());
  });
  done.catch(() => undefined);
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
    if (failure) break;
    parser.write(chunk as Buffer);
  }
  if (!failure) parser.end();
  await done.catch((e: Error) => {
    if (e instanceof SandboxError) throw e;
    bad('layout-format', `${file} is not a readable tar of an OCI layout: ${e.message}`);
  });
  if (failure) throw failure;
}

/** Reads and validates a manifest by descriptor (hash checked first). */
export function readManifest(layout: Layout, desc: Descriptor): { bytes: Buffer; manifest: ImageManifest } {
  if (desc.mediaType !== MT_MANIFEST) bad('media-type', `${desc.digest} has mediaType ${desc.mediaType}, expected ${MT_MANIFEST}`, { blob: desc.digest });
  const bytes = readBlob(layout.dir, desc, MAX_MANIFEST_BYTES);
  return { bytes, manifest: parseManifest(parseStrictJson(bytes, `manifest ${desc.digest}`), `manifest ${desc.digest}`) };
}

function readNestedIndex(layout: Layout, desc: Descriptor): ImageIndex {
  const bytes = readBlob(layout.dir, desc, MAX_INDEX_BYTES);
  return parseIndex(parseStrictJson(bytes, `index ${desc.digest}`), `index ${desc.digest}`);
}

/** From an image index, the manifest for this host (linux/<arch>), or the only one. */
function pickPlatform(layout: Layout, desc: Descriptor): Descriptor {
  const nested = readNestedIndex(layout, desc);
  const images = nested.manifests.filter((m) => m.mediaType === MT_MANIFEST && !m.artifactType);
  const arch = hostArchitecture();
  const match = images.filter((m) => m.platform?.os === 'linux' && m.platform.architecture === arch);
  if (match.length >= 1) return match[0]!;
  if (images.length === 1 && !images[0]!.platform) return images[0]!;
  bad('ref-not-found', `index ${desc.digest} has no manifest for linux/${arch}`);
}

/** Tagged image descriptors of the layout's index.json (referrers and untagged entries excluded). */
export function taggedImages(layout: Layout): { tag: string; descriptor: Descriptor }[] {
  return layout.index.manifests
    .filter((d) => d.annotations?.[ANNOTATION_REF_NAME] !== undefined && (d.mediaType === MT_MANIFEST || d.mediaType === MT_INDEX))
    .map((d) => ({ tag: d.annotations![ANNOTATION_REF_NAME]!, descriptor: d }));
}

/**
 * Resolves `ref` in the layout: undefined (the only tagged image), a tag, or `@sha256:…`/`sha256:…`.
 * Returns the image manifest (for an index: the one for this platform), validated as runnable.
 */
export function resolveImage(layout: Layout, ref?: string): ResolvedImage {
  let desc: Descriptor;
  let tag: string | undefined;
  const digestRef = ref?.startsWith('@') ? ref.slice(1) : ref;
  if (digestRef !== undefined && digestRef.startsWith('sha256:')) {
    if (!isDigest(digestRef)) bad('malformed-digest', `reference ${JSON.stringify(ref)} is a malformed digest`);
    const found = layout.index.manifests.find((d) => d.digest === digestRef);
    if (!found) bad('ref-not-found', `no manifest ${digestRef} in the layout's index.json`);
    desc = found;
  } else {
    const tagged = taggedImages(layout);
    const matches = ref === undefined ? tagged : tagged.filter((t) => t.tag === ref);
    const digests = new Set(matches.map((m) => m.descriptor.digest));
    if (digests.size === 0) {
      bad('ref-not-found', ref === undefined ? 'the layout has no tagged image' : `the layout has no image tagged ${JSON.stringify(ref)}`);
    }
    if (digests.size > 1) {
      bad('ambiguous-ref', ref === undefined
        ? `the layout has several tagged images (${matches.map((m) => m.tag).join(', ')}); name one`
        : `tag ${JSON.stringify(ref)} names several different manifests in index.json; refused`);
    }
    desc = matches[0]!.descriptor;
    tag = matches[0]!.tag;
  }
  if (desc.mediaType === MT_INDEX) desc = pickPlatform(layout, desc);
  const { bytes, manifest } = readManifest(layout, desc);
  checkImageManifest(manifest, `manifest ${desc.digest}`);
  const out: ResolvedImage = { descriptor: desc, digest: desc.digest, manifestBytes: bytes, manifest };
  if (tag !== undefined) out.tag = tag;
  return out;
}

export function readConfig(layout: Layout, manifest: ImageManifest): { bytes: Buffer; config: ImageConfig } {
  const bytes = readBlob(layout.dir, manifest.config, MAX_CONFIG_BYTES);
  const config = parseConfig(parseStrictJson(bytes, `config ${manifest.config.digest}`), `config ${manifest.config.digest}`, manifest.layers.length);
  return { bytes, config };
}

/**
 * Sigstore bundles attached to `manifestDigest` as OCI 1.1 referrers listed in index.json: a
 * manifest whose subject is the image and whose single layer is a bundle. Unrelated or malformed
 * referrers are skipped (they cannot make an image trusted, only fail to); a referrer that names
 * our image but whose blobs are tampered with is an error, so tampering is reported, not hidden.
 */
export function findReferrerBundles(layout: Layout, manifestDigest: string): { digest: string; bytes: Buffer }[] {
  const out: { digest: string; bytes: Buffer }[] = [];
  for (const d of layout.index.manifests) {
    if (d.mediaType !== MT_MANIFEST || d.digest === manifestDigest || d.annotations?.[ANNOTATION_REF_NAME] !== undefined) continue;
    if (d.artifactType !== undefined && !isBundleType(d.artifactType)) continue;
    let manifest: ImageManifest;
    try {
      manifest = readManifest(layout, d).manifest;
    } catch (e) {
      if (d.artifactType !== undefined) throw e; // declared as a bundle referrer: report tampering
      continue;
    }
    if (manifest.subject?.digest !== manifestDigest || !isBundleReferrer(manifest)) continue;
    const layer = manifest.layers[0]!;
    out.push({ digest: layer.digest, bytes: readBlob(layout.dir, layer, MAX_BUNDLE_BYTES) });
  }
  return out;
}

function isBundleType(t: string): boolean {
  return t.startsWith('application/vnd.dev.sigstore.bundle');
}
