/**
 * `sandbox image sign`: a cosign-v3-style signature made offline with a local key.
 * The signature is a sigstore bundle v0.3 holding a DSSE envelope whose payload is an in-toto
 * Statement v1 with subject = the image manifest digest and predicateType
 * https://sigstore.dev/cosign/sign/v1. It is attached inside the layout as an OCI 1.1 referrer:
 * a manifest (artifactType application/vnd.dev.sigstore.bundle.v0.3+json, empty config, one layer
 * = the bundle, subject = the image manifest descriptor) listed in index.json.
 * No transparency log entry is made (offline); policies verifying these list the public key.
 */
import { createHash, createPrivateKey, createPublicKey, sign as cryptoSign, randomBytes, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { bundleToJSON, toDSSEBundle } from '@sigstore/bundle';
import { dsse } from '@sigstore/core';
import { SandboxError } from '../errors.js';
import { readConfigFile } from '../policy/read-config-file.js';
import { blobPath, sha256 } from './digest.js';
import { openLayoutDir, resolveImage } from './layout.js';
import { MT_EMPTY, MT_MANIFEST, MT_SIGSTORE_BUNDLE_V03, type Descriptor } from './media-types.js';
import { COSIGN_SIGN_PREDICATE, INTOTO_PAYLOAD_TYPE } from './verify.js';

export interface SignResult {
  manifestDigest: string;
  referrerDigest: string;
  bundleDigest: string;
  bundle: string;
}

function hashFor(key: KeyObject): string | null {
  if (key.asymmetricKeyType === 'ed25519') return null;
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    return curve === 'secp384r1' ? 'sha384' : curve === 'secp521r1' ? 'sha512' : 'sha256';
  }
  return 'sha256';
}

export function loadPrivateKey(file: string): KeyObject {
  const pem = readConfigFile(file, (why) => {
    throw new SandboxError('TRUST', `cannot load private key ${file}: ${why}`, { reason: 'key-invalid', file });
  });
  try {
    return createPrivateKey(pem);
  } catch (e) {
    throw new SandboxError('TRUST', `cannot load private key ${file}: ${(e as Error).message} (an unencrypted PEM key is expected)`, { reason: 'key-invalid', file });
  }
}

/** The DSSE bundle JSON for `manifestDigest`, signed with `key` (no log entry). */
export function makeSignatureBundle(manifestDigest: string, subjectName: string, key: KeyObject): string {
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: subjectName, digest: { sha256: manifestDigest.slice('sha256:'.length) } }],
    predicateType: COSIGN_SIGN_PREDICATE,
    predicate: {},
  };
  const payload = Buffer.from(JSON.stringify(statement));
  const signature = cryptoSign(hashFor(key), dsse.preAuthEncoding(INTOTO_PAYLOAD_TYPE, payload), key);
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  const bundle = toDSSEBundle({
    artifact: payload,
    artifactType: INTOTO_PAYLOAD_TYPE,
    signature,
    // Only a hint for humans and other tools; verifiers here ignore it (see verify.ts).
    keyHint: createHash('sha256').update(spki).digest('base64'),
  });
  return JSON.stringify(bundleToJSON(bundle));
}

/** Writes `data` as a blob of the layout (atomically: temp file + rename). */
function writeBlob(dir: string, data: Buffer): Descriptor & { mediaType: string } {
  const digest = sha256(data);
  const dest = blobPath(dir, digest);
  if (!fs.existsSync(dest)) {
    const tmp = path.join(dir, 'blobs', 'sha256', `.tmp-${randomBytes(8).toString('hex')}`);
    fs.writeFileSync(tmp, data, { mode: 0o644, flag: 'wx' });
    fs.renameSync(tmp, dest);
  }
  return { mediaType: '', digest, size: data.length };
}

/** Signs the image `tag` (or the only tagged image) of the layout at `dir` and attaches the bundle. */
export function signLayout(dir: string, tag: string | undefined, key: KeyObject, now = new Date()): SignResult {
  const layout = openLayoutDir(dir);
  const image = resolveImage(layout, tag);
  const bundle = makeSignatureBundle(image.digest, path.basename(path.resolve(dir)) + (image.tag ? `:${image.tag}` : ''), key);
  const attached = attachBundle(dir, image.descriptor, bundle, 'dsse-envelope', now);
  return { manifestDigest: image.digest, ...attached, bundle };
}

/**
 * Attaches a bundle to the manifest `subject` of the layout at `dir` as an OCI 1.1 referrer
 * (the layout from cosign's bundle spec) and lists the referrer in index.json.
 */
export function attachBundle(
  dir: string,
  subject: Descriptor,
  bundle: string,
  content: 'dsse-envelope' | 'message-signature',
  now = new Date(),
): { referrerDigest: string; bundleDigest: string } {
  const bundleDesc = { ...writeBlob(dir, Buffer.from(bundle)), mediaType: MT_SIGSTORE_BUNDLE_V03 };
  const emptyDesc = { ...writeBlob(dir, Buffer.from('{}')), mediaType: MT_EMPTY };
  const annotations: Record<string, string> = {
    'dev.sigstore.bundle.content': content,
    ...(content === 'dsse-envelope' ? { 'dev.sigstore.bundle.predicateType': COSIGN_SIGN_PREDICATE } : {}),
    'org.opencontainers.image.created': now.toISOString(),
  };
  const referrer = {
    schemaVersion: 2,
    mediaType: MT_MANIFEST,
    artifactType: MT_SIGSTORE_BUNDLE_V03,
    config: emptyDesc,
    layers: [bundleDesc],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations,
  };
  const refDesc = { ...writeBlob(dir, Buffer.from(JSON.stringify(referrer))), mediaType: MT_MANIFEST };
  // index.json is rewritten with the referrer appended, via temp file + rename so a reader never
  // sees half a file. (Signing one layout from two processes at once is not supported.)
  const indexFile = path.join(dir, 'index.json');
  const index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as { manifests: unknown[] };
  index.manifests.push({ ...refDesc, artifactType: MT_SIGSTORE_BUNDLE_V03, annotations });
  const tmp = path.join(dir, `.index.json.tmp-${randomBytes(8).toString('hex')}`);
  fs.writeFileSync(tmp, JSON.stringify(index), { mode: 0o644, flag: 'wx' });
  fs.renameSync(tmp, indexFile);
  return { referrerDigest: refDesc.digest, bundleDigest: bundleDesc.digest };
}
