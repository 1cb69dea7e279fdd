/**
 * Trust material for sigstore verification, from files only (everything works offline):
 *  - a sigstore trusted_root.json (--trusted-root, trustedRootPath),
 *  - the public-good trusted root shipped in @sigstore/tuf's seeds.json,
 *  - or a CA certificate and a transparency-log key named by the trust policy.
 *
 * @sigstore/verify treats a missing `validFor.start` as "valid since 1970", which would let a key
 * vouch for times before it existed; a trusted root whose entries lack a validity start is
 * therefore refused here, before the library sees it.
 */
import { createHash, createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { X509Certificate } from '@sigstore/core';
import { PublicKeyDetails, TrustedRoot } from '@sigstore/protobuf-specs';
import { SandboxError } from '../errors.js';
import { readConfigFile } from '../policy/read-config-file.js';
import { isObject, parseStrictJson } from './strict-json.js';

function refuse(message: string, file: string): never {
  throw new SandboxError('TRUST', message, { reason: 'trusted-root-invalid', file });
}

/** Checks that every CA, TSA, tlog and ctlog entry of a trusted root has validFor.start. */
export function checkValidityStarts(root: TrustedRoot, file: string): void {
  const missing: string[] = [];
  root.certificateAuthorities.forEach((c, i) => c.validFor?.start || missing.push(`certificateAuthorities[${i}]`));
  root.timestampAuthorities.forEach((c, i) => c.validFor?.start || missing.push(`timestampAuthorities[${i}]`));
  root.tlogs.forEach((t, i) => t.publicKey?.validFor?.start || missing.push(`tlogs[${i}]`));
  root.ctlogs.forEach((t, i) => t.publicKey?.validFor?.start || missing.push(`ctlogs[${i}]`));
  if (missing.length) refuse(`trusted root ${file}: ${missing.join(', ')} ha${missing.length > 1 ? 've' : 's'} no validFor.start; refused`, file);
}

export function parseTrustedRoot(bytes: Buffer, file: string): TrustedRoot {
  const doc = parseStrictJson(bytes, `trusted root ${file}`, 'TRUST');
  if (!isObject(doc) || typeof doc.mediaType !== 'string' || !doc.mediaType.startsWith('application/vnd.dev.sigstore.trustedroot')) {
    refuse(`${file} is not a sigstore trusted root (mediaType application/vnd.dev.sigstore.trustedroot…)`, file);
  }
  let root: TrustedRoot;
  try {
    root = TrustedRoot.fromJSON(doc);
  } catch (e) {
    refuse(`trusted root ${file} is malformed: ${(e as Error).message}`, file);
  }
  checkValidityStarts(root, file);
  return root;
}

export function loadTrustedRoot(file: string): TrustedRoot {
  // a regular file of at most 4 MiB: /dev/zero or a FIFO is refused, not read
  const bytes = readConfigFile(file, (why, errno) => refuse(errno ? `cannot read trusted root ${file} (${errno})` : `cannot read trusted root ${file}: ${why}`, file));
  return parseTrustedRoot(bytes, file);
}

/** The sigstore public-good trusted root shipped inside @sigstore/tuf (no network). */
export function publicGoodTrustedRoot(): TrustedRoot {
  const require = createRequire(import.meta.url);
  const seedsFile = require.resolve('@sigstore/tuf/seeds.json');
  const seeds = JSON.parse(fs.readFileSync(seedsFile, 'utf8')) as Record<string, { targets: Record<string, string> }>;
  const repo = seeds['https://tuf-repo-cdn.sigstore.dev'];
  const b64 = repo?.targets['trusted_root.json'];
  if (!b64) refuse('the public-good trusted root is missing from @sigstore/tuf/seeds.json', seedsFile);
  return parseTrustedRoot(Buffer.from(b64, 'base64'), `${seedsFile}#trusted_root.json`);
}

/** A PEM (or base64-of-PEM, as containers-policy keyData) public key → DER SPKI. */
export function publicKeyDer(pemOrB64: string | Buffer, what: string): Buffer {
  let text = Buffer.isBuffer(pemOrB64) ? pemOrB64.toString('utf8') : pemOrB64;
  if (!text.includes('-----BEGIN')) text = Buffer.from(text, 'base64').toString('utf8');
  try {
    return createPublicKey(text).export({ format: 'der', type: 'spki' });
  } catch (e) {
    throw new SandboxError('TRUST', `${what} is not a PEM public key: ${(e as Error).message}`, { reason: 'key-invalid' });
  }
}

/** PEM (or base64 of PEM) certificates → DER, in order. */
export function certificatesDer(pemOrB64: string, what: string): Buffer[] {
  let text = pemOrB64;
  if (!text.includes('-----BEGIN')) text = Buffer.from(text, 'base64').toString('utf8');
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new SandboxError('TRUST', `${what} holds no PEM certificate`, { reason: 'key-invalid' });
  return blocks.map((b) => Buffer.from(b.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, ''), 'base64'));
}

function keyDetails(der: Buffer): PublicKeyDetails {
  const k = createPublicKey({ key: der, format: 'der', type: 'spki' });
  if (k.asymmetricKeyType === 'ed25519') return PublicKeyDetails.PKIX_ED25519;
  if (k.asymmetricKeyType === 'ec') {
    const curve = k.asymmetricKeyDetails?.namedCurve;
    return curve === 'secp384r1' ? PublicKeyDetails.PKIX_ECDSA_P384_SHA_384 : curve === 'secp521r1' ? PublicKeyDetails.PKIX_ECDSA_P521_SHA_512 : PublicKeyDetails.PKIX_ECDSA_P256_SHA_256;
  }
  return PublicKeyDetails.PKIX_RSA_PKCS1V15_2048_SHA256;
}

/**
 * A trusted root built from a policy's CA certificate chain and log key. The CA is valid from its
 * notBefore (a real validity start); a bare log key pinned by the administrator in the policy has
 * no date of its own and is trusted from the CA's notBefore (or 1970 for keyed-only policies).
 */
export function trustedRootFromParts(parts: { caDer?: Buffer[]; rekorKeyDer?: Buffer }): TrustedRoot {
  const caStart = parts.caDer?.length ? X509Certificate.parse(parts.caDer[parts.caDer.length - 1]! as Buffer<ArrayBuffer>).notBefore : new Date(0);
  const root: TrustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    certificateAuthorities: [],
    timestampAuthorities: [],
    tlogs: [],
    ctlogs: [],
  };
  if (parts.caDer?.length) {
    root.certificateAuthorities.push({
      subject: { organization: 'policy', commonName: 'policy CA' },
      uri: 'policy:fulcio',
      certChain: { certificates: parts.caDer.map((rawBytes) => ({ rawBytes })) },
      validFor: { start: caStart },
      operator: 'policy',
    });
  }
  if (parts.rekorKeyDer) {
    root.tlogs.push({
      baseUrl: 'policy:rekor',
      hashAlgorithm: 1 /* SHA2_256 */,
      publicKey: { rawBytes: parts.rekorKeyDer, keyDetails: keyDetails(parts.rekorKeyDer), validFor: { start: caStart } },
      // Rekor's log ID is the SHA-256 of the DER public key.
      logId: { keyId: createHash('sha256').update(parts.rekorKeyDer).digest() },
      checkpointKeyId: undefined,
      operator: 'policy',
    });
  }
  return root;
}

/** Concatenates trust material from several sources. */
export function mergeTrustedRoots(roots: TrustedRoot[]): TrustedRoot {
  return {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    certificateAuthorities: roots.flatMap((r) => r.certificateAuthorities),
    timestampAuthorities: roots.flatMap((r) => r.timestampAuthorities),
    tlogs: roots.flatMap((r) => r.tlogs),
    ctlogs: roots.flatMap((r) => r.ctlogs),
  };
}
