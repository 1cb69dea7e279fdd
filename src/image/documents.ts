/**
 * Validation of OCI documents after their bytes were hashed: descriptors, indexes, manifests,
 * configs. Each function takes parsed JSON and returns a typed value or throws IMAGE with a
 * stable `reason`. Unknown media types are refused, never guessed.
 *
 * Media types: every descriptor must carry one. A document's own `mediaType` field is optional in
 * image-spec 1.0 (umoci 0.4 omits it), but when present it must equal the descriptor's; and a
 * document that has both `manifests` (an index) and `config`/`layers` (a manifest) is refused, since
 * two readers could legitimately disagree on what it is (media-type confusion).
 */
import { SandboxError } from '../errors.js';
import { digestHex, isDigest } from './digest.js';
import {
  BUNDLE_LAYER_TYPES,
  LAYER_TYPES,
  MT_CONFIG,
  MT_EMPTY,
  MT_INDEX,
  MT_MANIFEST,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
} from './media-types.js';
import { isObject } from './strict-json.js';

function bad(reason: string, message: string, details: Record<string, unknown> = {}): never {
  throw new SandboxError('IMAGE', message, { reason, ...details });
}

/** RFC 6838 type/subtype with optional parameters; no control characters or spaces. */
const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(;[ ]?[A-Za-z0-9_.-]+=[A-Za-z0-9_.-]+)*$/;

function stringMap(v: unknown, where: string): Record<string, string> | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v) || !Object.values(v).every((x) => typeof x === 'string')) {
    bad('invalid-descriptor', `${where}: annotations must be an object of strings`);
  }
  return v as Record<string, string>;
}

export function parseDescriptor(v: unknown, where: string): Descriptor {
  if (!isObject(v)) bad('invalid-descriptor', `${where} is not a descriptor object`);
  if (typeof v.mediaType !== 'string' || !MEDIA_TYPE_RE.test(v.mediaType)) {
    bad('media-type', `${where} has no valid mediaType; media types must be present`);
  }
  digestHex(v.digest, `${where}.digest`); // validated before it can ever become a path
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) {
    bad('invalid-descriptor', `${where} has an invalid size`);
  }
  // External URLs would make us fetch content the digest alone does not name: not supported.
  if (v.urls !== undefined) bad('invalid-descriptor', `${where} has urls (foreign layers are not supported)`);
  const d: Descriptor = { mediaType: v.mediaType, digest: v.digest as string, size: v.size };
  const annotations = stringMap(v.annotations, where);
  if (annotations) d.annotations = annotations;
  if (v.artifactType !== undefined) {
    if (typeof v.artifactType !== 'string') bad('invalid-descriptor', `${where}.artifactType must be a string`);
    d.artifactType = v.artifactType;
  }
  if (v.platform !== undefined) {
    const p = v.platform;
    if (!isObject(p) || typeof p.os !== 'string' || typeof p.architecture !== 'string') {
      bad('invalid-descriptor', `${where}.platform must have os and architecture`);
    }
    d.platform = { os: p.os, architecture: p.architecture };
    if (typeof p.variant === 'string') d.platform.variant = p.variant;
  }
  return d;
}

/** Refuses a document that claims to be both an index and a manifest. */
function refuseAmbiguous(doc: Record<string, unknown>, what: string): void {
  const isIndexish = 'manifests' in doc;
  const isManifestish = 'config' in doc || 'layers' in doc;
  if (isIndexish && isManifestish) {
    bad('ambiguous-document', `${what} is both an index (manifests) and a manifest (config/layers); refused`, { blob: what });
  }
}

function checkOwnMediaType(doc: Record<string, unknown>, expected: string, what: string): void {
  if (doc.mediaType !== undefined && doc.mediaType !== expected) {
    bad('media-type', `${what} says mediaType ${JSON.stringify(doc.mediaType)} but was referenced as ${expected}`, { blob: what });
  }
}

export function parseIndex(doc: unknown, what: string): ImageIndex {
  if (!isObject(doc)) bad('invalid-index', `${what} is not a JSON object`);
  refuseAmbiguous(doc, what);
  checkOwnMediaType(doc, MT_INDEX, what);
  if (doc.schemaVersion !== 2) bad('invalid-index', `${what}: schemaVersion must be 2`);
  if (!Array.isArray(doc.manifests)) bad('invalid-index', `${what} has no manifests array`);
  const manifests = doc.manifests.map((m, i) => parseDescriptor(m, `${what}.manifests[${i}]`));
  return { schemaVersion: 2, mediaType: MT_INDEX, manifests };
}

export function parseManifest(doc: unknown, what: string): ImageManifest {
  if (!isObject(doc)) bad('invalid-manifest', `${what} is not a JSON object`);
  refuseAmbiguous(doc, what);
  checkOwnMediaType(doc, MT_MANIFEST, what);
  if (doc.schemaVersion !== 2) bad('invalid-manifest', `${what}: schemaVersion must be 2`);
  if (!Array.isArray(doc.layers)) bad('invalid-manifest', `${what} has no layers array`);
  const config = parseDescriptor(doc.config, `${what}.config`);
  const layers = doc.layers.map((l, i) => parseDescriptor(l, `${what}.layers[${i}]`));
  const m: ImageManifest = { schemaVersion: 2, mediaType: MT_MANIFEST, config, layers };
  if (doc.artifactType !== undefined) {
    if (typeof doc.artifactType !== 'string') bad('invalid-manifest', `${what}.artifactType must be a string`);
    m.artifactType = doc.artifactType;
  }
  if (doc.subject !== undefined) m.subject = parseDescriptor(doc.subject, `${what}.subject`);
  const annotations = stringMap(doc.annotations, what);
  if (annotations) m.annotations = annotations;
  return m;
}

/** A runnable image manifest: config is an image config, every layer a tar layer type. */
export function checkImageManifest(m: ImageManifest, what: string): void {
  if (m.config.mediaType !== MT_CONFIG) {
    bad('media-type', `${what}: config has mediaType ${m.config.mediaType}, expected ${MT_CONFIG}`, { blob: m.config.digest });
  }
  m.layers.forEach((l, i) => {
    if (!LAYER_TYPES.has(l.mediaType)) {
      bad('media-type', `${what}: layer ${i} has unsupported mediaType ${l.mediaType}`, { blob: l.digest });
    }
  });
}

/** A sigstore referrer: artifact manifest whose single layer is a bundle. */
export function isBundleReferrer(m: ImageManifest): boolean {
  return (
    m.config.mediaType === MT_EMPTY &&
    m.layers.length === 1 &&
    BUNDLE_LAYER_TYPES.has(m.layers[0]!.mediaType) &&
    (m.artifactType === undefined || BUNDLE_LAYER_TYPES.has(m.artifactType))
  );
}

function stringArray(v: unknown, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) bad('invalid-config', `${where} must be an array of strings`);
  return v as string[];
}

function optString(v: unknown, where: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') bad('invalid-config', `${where} must be a string`);
  return v;
}

export function parseConfig(doc: unknown, what: string, layerCount: number): ImageConfig {
  if (!isObject(doc)) bad('invalid-config', `${what} is not a JSON object`);
  if (typeof doc.os !== 'string' || typeof doc.architecture !== 'string') {
    bad('invalid-config', `${what} must have os and architecture`);
  }
  if (doc.os !== 'linux') bad('invalid-config', `${what} is for os ${doc.os}; only linux images run here`);
  const rootfs = doc.rootfs;
  if (!isObject(rootfs) || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) {
    bad('invalid-config', `${what}: rootfs must be {type: "layers", diff_ids: [...]}`);
  }
  const diffIds = rootfs.diff_ids.map((d, i) => {
    if (!isDigest(d)) digestHex(d, `${what}.rootfs.diff_ids[${i}]`);
    return d as string;
  });
  if (diffIds.length !== layerCount) {
    bad('invalid-config', `${what} lists ${diffIds.length} diff_ids but the manifest has ${layerCount} layers`);
  }
  const c = doc.config === undefined || doc.config === null ? {} : doc.config;
  if (!isObject(c)) bad('invalid-config', `${what}.config must be an object`);
  return {
    os: doc.os,
    architecture: doc.architecture,
    diffIds,
    config: {
      env: stringArray(c.Env, `${what}.config.Env`),
      entrypoint: stringArray(c.Entrypoint, `${what}.config.Entrypoint`),
      cmd: stringArray(c.Cmd, `${what}.config.Cmd`),
      workingDir: optString(c.WorkingDir, `${what}.config.WorkingDir`),
      user: optString(c.User, `${what}.config.User`),
    },
  };
}

/** Node's process.arch → OCI architecture names. */
export function hostArchitecture(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return map[process.arch] ?? process.arch;
}
