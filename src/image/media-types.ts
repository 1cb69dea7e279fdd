/** OCI media types we accept, and the descriptor shape. Anything else is refused, not guessed. */
export const MT_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MT_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MT_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MT_EMPTY = 'application/vnd.oci.empty.v1+json';
export const MT_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
export const MT_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const MT_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
export const LAYER_TYPES = new Set([MT_LAYER_TAR, MT_LAYER_GZIP, MT_LAYER_ZSTD]);

/** What cosign v3 writes: a referrer manifest with this artifactType and one layer of this type. */
export const MT_SIGSTORE_BUNDLE_V03 = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** Older bundle media types that may appear as the layer of a referrer (v0.1 – v0.3). */
export const BUNDLE_LAYER_TYPES = new Set([
  MT_SIGSTORE_BUNDLE_V03,
  'application/vnd.dev.sigstore.bundle+json;version=0.1',
  'application/vnd.dev.sigstore.bundle+json;version=0.2',
  'application/vnd.dev.sigstore.bundle+json;version=0.3',
]);

export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** The parts of an image config that a run uses (OCI image-spec "config" object). */
export interface RunConfig {
  env: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
  user: string;
}

export interface ImageConfig {
  architecture: string;
  os: string;
  config: RunConfig;
  diffIds: string[];
}

/** Size caps for documents read into memory (a manifest is a few KB; these are generous). */
export const MAX_INDEX_BYTES = 4 << 20;
export const MAX_MANIFEST_BYTES = 4 << 20;
export const MAX_CONFIG_BYTES = 8 << 20;
export const MAX_BUNDLE_BYTES = 4 << 20;
/**
 * All documents read from a layout tar before trust is decided, together (layout.ts needDocuments):
 * what an unsigned tar can make an import write. Real ones are KBs each; this is 16 at the 4 MiB cap.
 */
export const MAX_DOCUMENTS_BEFORE_TRUST = 64 << 20;
