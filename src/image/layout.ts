/**
 * OCI image layouts (a directory, or a tar of one): oci-layout, index.json, blobs/sha256/<hex>.
 * Resolves references (`TAG` from org.opencontainers.image.ref.name, or `@sha256:…`), reads and
 * validates index, manifest and config (hashed before parsing, see blob.ts), and finds sigstore
 * bundles attached as OCI 1.1 referrers.
 *
 * A tar is materialised lazily (layout-tar.ts): `oci-layout` and `index.json` when opened, the
 * documents trust is decided on next (needDocuments), the layers only when asked for after trust.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SandboxError } from '../errors.js';
import { checkBlobDirs, readBlob } from './blob.js';
import type { MeterLimits } from './decompress.js';
import { digestHex, isDigest } from './digest.js';
import { checkImageManifest, hostArchitecture, isBundleReferrer, parseConfig, parseIndex, parseManifest } from './documents.js';
import { extractFromLayoutTar, type Want } from './layout-tar.js';
import {
  ANNOTATION_REF_NAME,
  MAX_BUNDLE_BYTES,
  MAX_CONFIG_BYTES,
  MAX_DOCUMENTS_BEFORE_TRUST,
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
  /**
   * Only for a layout read from a tar, whose `dir` holds just what was asked for so far: extracts the
   * blobs of `descs` (one more pass over the tar), each of exactly its declared size. Callers ask
   * for what they are about to read, no sooner: documents before trust, layers after.
   */
  need?: (descs: readonly Descriptor[]) => Promise<void>;
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

/** `oci-layout` is `{"imageLayoutVersion": "1.0.0"}`. */
const MAX_OCI_LAYOUT_BYTES = 4096;

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
  const marker = parseStrictJson(readTopFile(dir, 'oci-layout', MAX_OCI_LAYOUT_BYTES), `${dir}/oci-layout`);
  if (typeof marker !== 'object' || marker === null || (marker as Record<string, unknown>).imageLayoutVersion !== '1.0.0') {
    bad('not-a-layout', `${dir}/oci-layout must say {"imageLayoutVersion": "1.0.0"}`);
  }
  checkBlobDirs(dir);
  const index = parseIndex(parseStrictJson(readTopFile(dir, 'index.json', MAX_INDEX_BYTES), `${dir}/index.json`), 'index.json');
  return { dir, index };
}

/**
 * Opens a layout given as a directory or as a tar (optionally gzip- or zstd-compressed). A tar is
 * read lazily into `stagingDir` (private to this import): see openLayoutTar.
 */
export async function openLayout(input: string, stagingDir: string, limits: MeterLimits): Promise<Layout> {
  const st = fs.statSync(input, { throwIfNoEntry: false });
  if (!st) bad('not-a-layout', `${input} does not exist`);
  if (st.isDirectory()) return openLayoutDir(input);
  if (!st.isFile()) bad('not-a-layout', `${input} is neither a directory nor a tar file`);
  return openLayoutTar(input, path.join(stagingDir, 'layout'), limits);
}

/**
 * A layout tar, materialised lazily in `dest`: this first pass writes only oci-layout and
 * index.json (capped as a directory's are read); blobs are written when asked for (`need`), each
 * at most once, in one pass per call.
 */
async function openLayoutTar(file: string, dest: string, limits: MeterLimits): Promise<Layout> {
  fs.mkdirSync(path.join(dest, 'blobs', 'sha256'), { recursive: true, mode: 0o700 });
  const top = new Map<string, Want>([['oci-layout', { max: MAX_OCI_LAYOUT_BYTES }], ['index.json', { max: MAX_INDEX_BYTES }]]);
  await extractFromLayoutTar(file, dest, top, limits);
  const layout = openLayoutDir(dest);
  const asked = new Set<string>();
  layout.need = async (descs) => {
    const wanted = new Map<string, Want>();
    for (const d of descs) {
      if (asked.has(d.digest)) continue; // extracted, or found missing (reading it will say so)
      const name = `blobs/sha256/${digestHex(d.digest, 'blob')}`;
      const other = wanted.get(name);
      if (other && 'size' in other && other.size !== d.size) {
        bad('size-mismatch', `blob ${d.digest} is declared with ${other.size} and ${d.size} bytes`, { blob: d.digest, digest: d.digest });
      }
      wanted.set(name, { size: d.size, digest: d.digest });
    }
    if (wanted.size === 0) return;
    await extractFromLayoutTar(file, dest, wanted, limits);
    for (const d of descs) asked.add(d.digest);
  };
  return layout;
}

/** A document of the layout to read before trust, with the cap it is read with. */
interface Doc {
  desc: Descriptor;
  max: number;
}

/**
 * For a layout read from a tar: extracts every document that resolving `tags` and finding their
 * signatures reads (store.ts decide) — the tagged manifest or index, the manifest an index picks for
 * this platform, configs, referrer manifests and their bundles — and no layer. One pass per level
 * of documents (index.json → manifest or index → manifest or config or bundle → config).
 * Documents declaring more than their cap are left out (reading them refuses them), and all of them
 * together may declare at most MAX_DOCUMENTS_BEFORE_TRUST: nothing is trusted yet, so that is all
 * an unsigned tar can make us write.
 */
export async function needDocuments(layout: Layout, tags: readonly string[]): Promise<void> {
  if (!layout.need) return;
  const roots = taggedImages(layout).filter((t) => tags.includes(t.tag)).map((t) => t.descriptor);
  let level: Doc[] = [...roots, ...referrerCandidates(layout)].map((desc) => ({ desc, max: desc.mediaType === MT_INDEX ? MAX_INDEX_BYTES : MAX_MANIFEST_BYTES }));
  const seen = new Set<string>();
  let declared = 0;
  while (level.length > 0) {
    const fresh: Descriptor[] = [];
    for (const d of level) {
      if (d.desc.size > d.max || seen.has(d.desc.digest)) continue;
      seen.add(d.desc.digest);
      declared += d.desc.size;
      fresh.push(d.desc);
    }
    if (declared > MAX_DOCUMENTS_BEFORE_TRUST) {
      bad('too-large', `the layout's manifests, indexes, configs and signatures declare more than ${MAX_DOCUMENTS_BEFORE_TRUST} bytes; refused before trust`);
    }
    await layout.need(fresh);
    level = fresh.flatMap((desc) => documentChildren(layout, desc));
  }
}

/**
 * The documents a document names that are read before trust: an index's manifest for this
 * platform; an image manifest's config, or a bundle referrer's bundle. Never a layer.
 */
function documentChildren(layout: Layout, desc: Descriptor): Doc[] {
  try {
    if (desc.mediaType === MT_INDEX) return [{ desc: platformManifest(readNestedIndex(layout, desc), desc), max: MAX_MANIFEST_BYTES }];
    const { manifest } = readManifest(layout, desc);
    if (isBundleReferrer(manifest)) return [{ desc: manifest.layers[0]!, max: MAX_BUNDLE_BYTES }];
    return [{ desc: manifest.config, max: MAX_CONFIG_BYTES }];
  } catch {
    return []; // names nothing we can follow; decide() reads it again and reports why, if it matters
  }
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
function platformManifest(nested: ImageIndex, desc: Descriptor): Descriptor {
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
  if (desc.mediaType === MT_INDEX) desc = platformManifest(readNestedIndex(layout, desc), desc);
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
  for (const d of referrerCandidates(layout)) {
    if (d.digest === manifestDigest) continue;
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

/** Entries of index.json that may be bundle referrers: untagged manifests, of a bundle artifactType if any. */
function referrerCandidates(layout: Layout): Descriptor[] {
  return layout.index.manifests.filter(
    (d) => d.mediaType === MT_MANIFEST && d.annotations?.[ANNOTATION_REF_NAME] === undefined && (d.artifactType === undefined || isBundleType(d.artifactType)),
  );
}

function isBundleType(t: string): boolean {
  return t.startsWith('application/vnd.dev.sigstore.bundle');
}
