/**
 * Verification of one sigstore bundle (v0.1–v0.3; message signature or DSSE) against an artifact
 * and trust material, using @sigstore/verify for the cryptography (signature, certificate chain,
 * SCTs, tlog inclusion, timestamps) and doing here what that library leaves to its caller:
 *  - the certificate identity is compared EXACTLY (the library's SAN policy is an unanchored
 *    regex, so "alice@example.com" would also accept "mallory-alice@example.com.evil"): we never
 *    hand the identity to the library, we compare strings ourselves;
 *  - DSSE: payloadType must be in-toto, the statement must name the artifact's digest as a
 *    subject, and (for images) the predicateType must be cosign's signature predicate
 *    (CVE-2022-35929, CVE-2026-39395: a valid envelope over a different subject is not a
 *    signature of this artifact);
 *  - message signatures: the signed digest must be the artifact's digest;
 *  - keyed bundles: the key comes only from the trust policy / --key; the bundle's key hint is
 *    attacker-controlled and ignored;
 *  - keyless bundles need at least one verified timestamp (tlog SET or RFC 3161), so a
 *    short-lived certificate is only accepted for a time the log or TSA vouches for.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { bundleFromJSON, assertBundleV01, assertBundleV02, assertBundleLatest, type Bundle } from '@sigstore/bundle';
import { X509Certificate } from '@sigstore/core';
import { HashAlgorithm, type TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial, type SignedEntity } from '@sigstore/verify';
import { SandboxError } from '../errors.js';
import { verifyEcdsaPrehashed } from './ecdsa-prehashed.js';
import { isObject, parseStrictJson } from './strict-json.js';

export const INTOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
const STATEMENT_TYPES = new Set(['https://in-toto.io/Statement/v1', 'https://in-toto.io/Statement/v0.1']);

/** What was signed: the bytes (and their digest), or only the digest. */
export type Artifact = { digest: string; bytes?: Buffer };

export type Trust =
  | { kind: 'keyed'; keys: KeyObject[]; trustedRoot: TrustedRoot; requireTlog: boolean }
  | { kind: 'keyless'; trustedRoot: TrustedRoot; identity: { value: string; type: 'email' | 'uri' | 'any' }; issuer: string };

export interface ContentRules {
  /** Required predicateType of a DSSE statement (undefined: any). */
  predicateType?: string;
}

export interface VerifiedSignature {
  kind: 'keyed' | 'keyless';
  content: 'messageSignature' | 'dsseEnvelope';
  identity?: string;
  issuer?: string;
}

export function refuse(reason: string, message: string, details: Record<string, unknown> = {}): never {
  throw new SandboxError('TRUST', message, { reason, ...details });
}

/** Parses bundle JSON (strict: duplicate keys refused) and validates it for its declared version. */
export function parseBundle(bytes: Buffer, what = 'bundle'): Bundle {
  const json = parseStrictJson(bytes, what, 'TRUST');
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(json);
    const mt = bundle.mediaType;
    if (mt === 'application/vnd.dev.sigstore.bundle+json;version=0.1') assertBundleV01(bundle);
    else if (mt === 'application/vnd.dev.sigstore.bundle+json;version=0.2') assertBundleV02(bundle);
    else if (mt === 'application/vnd.dev.sigstore.bundle+json;version=0.3' || mt === 'application/vnd.dev.sigstore.bundle.v0.3+json') assertBundleLatest(bundle);
    else refuse('bundle-invalid', `${what} has the unsupported mediaType ${JSON.stringify(mt)}`);
  } catch (e) {
    if (e instanceof SandboxError) throw e;
    const fields = (e as { fields?: string[] }).fields;
    refuse('bundle-invalid', `${what} is not a valid sigstore bundle: ${(e as Error).message}${fields ? ` (${fields.join(', ')})` : ''}`);
  }
  return bundle;
}

/** DSSE: in-toto payload naming the artifact as a subject (and, if asked, the predicate). */
function checkDsse(bundle: Bundle, artifact: Artifact, rules: ContentRules): void {
  if (bundle.content.$case !== 'dsseEnvelope') return;
  const env = bundle.content.dsseEnvelope;
  if (env.payloadType !== INTOTO_PAYLOAD_TYPE) {
    refuse('payload-type', `DSSE payloadType is ${JSON.stringify(env.payloadType)}, expected ${INTOTO_PAYLOAD_TYPE}`);
  }
  const st = parseStrictJson(env.payload, 'in-toto statement', 'TRUST');
  if (!isObject(st) || typeof st._type !== 'string' || !STATEMENT_TYPES.has(st._type)) {
    refuse('statement-invalid', 'DSSE payload is not an in-toto Statement');
  }
  if (rules.predicateType !== undefined && st.predicateType !== rules.predicateType) {
    refuse('predicate-type', `in-toto predicateType is ${JSON.stringify(st.predicateType)}, expected ${rules.predicateType}`);
  }
  const want = artifact.digest.slice('sha256:'.length);
  const subjects = Array.isArray(st.subject) ? st.subject : [];
  const match = subjects.some((s) => isObject(s) && isObject(s.digest) && s.digest.sha256 === want);
  if (!match) refuse('subject-mismatch', `in-toto statement does not name ${artifact.digest} as a subject; it is a signature of something else`);
}

/** Message signature: the signed digest must be the artifact's (SHA-256). */
function checkMessageDigest(bundle: Bundle, artifact: Artifact): void {
  if (bundle.content.$case !== 'messageSignature') return;
  const md = bundle.content.messageSignature.messageDigest;
  if (md.algorithm !== HashAlgorithm.SHA2_256 || md.digest.toString('hex') !== artifact.digest.slice('sha256:'.length)) {
    refuse('digest-mismatch', `message signature is over a different digest than ${artifact.digest}`);
  }
}

/** SignedEntity for the artifact; for a digest-only message signature, verify over the digest. */
function entityFor(bundle: Bundle, artifact: Artifact): SignedEntity {
  const entity = toSignedEntity(bundle, artifact.bytes);
  if (bundle.content.$case === 'messageSignature' && !artifact.bytes) {
    const ms = bundle.content.messageSignature;
    const digest = Buffer.from(artifact.digest.slice('sha256:'.length), 'hex');
    entity.signature = {
      signature: ms.signature,
      compareSignature: (s: Buffer) => s.equals(ms.signature),
      compareDigest: (d: Buffer) => d.equals(ms.messageDigest.digest),
      compareSignedDigest: (d: Buffer) => d.equals(ms.messageDigest.digest),
      verifySignature: (key: KeyObject) => verifyEcdsaPrehashed(key, digest, ms.signature),
    };
  }
  return entity;
}

/**
 * @sigstore/verify picks the key for a signed checkpoint by key ID *and* by the checkpoint's
 * signer name appearing in the log's baseUrl. A log key pinned in a trust policy has no URL, so
 * for those entries (baseUrl `policy:…`) the names found in the bundle's checkpoints are added:
 * the name only selects which key to try; the signature must still verify with the pinned key,
 * whose key ID must match too.
 */
function withCheckpointNames(root: TrustedRoot, bundle: Bundle): TrustedRoot {
  if (!root.tlogs.some((t) => t.baseUrl.startsWith('policy:'))) return root;
  const names = new Set<string>();
  for (const e of bundle.verificationMaterial.tlogEntries) {
    for (const m of (e.inclusionProof?.checkpoint?.envelope ?? '').matchAll(/\u2014 (\S+) /g)) names.add(m[1]!);
  }
  const suffix = [...names].join(' ');
  return { ...root, tlogs: root.tlogs.map((t) => (t.baseUrl.startsWith('policy:') ? { ...t, baseUrl: `${t.baseUrl} ${suffix}` } : t)) };
}

function libraryReason(e: unknown): string {
  const code = (e as { code?: string }).code ?? '';
  if (code === 'SIGNATURE_ERROR') return 'signature-invalid';
  if (code === 'CERTIFICATE_ERROR') return 'certificate-invalid';
  if (code.startsWith('TLOG')) return 'tlog-invalid';
  if (code === 'TIMESTAMP_ERROR') return 'timestamp-invalid';
  if (code === 'PUBLIC_KEY_ERROR') return 'key-invalid';
  return 'verification-failed';
}

function describe(e: unknown): string {
  const err = e as Error & { cause?: Error };
  return err.cause?.message ? `${err.message}: ${err.cause.message}` : err.message;
}

function verifyKeyed(bundle: Bundle, artifact: Artifact, trust: Extract<Trust, { kind: 'keyed' }>): VerifiedSignature {
  if (bundle.verificationMaterial.content.$case !== 'publicKey') {
    refuse('key-mismatch', 'bundle carries a certificate, but the policy trusts public keys (keyed signatures)');
  }
  const entity = entityFor(bundle, artifact);
  if (!trust.requireTlog) {
    // No log key in the policy: log entries cannot be checked, and are not needed for a keyed
    // signature (as containers-policy without rekorPublicKey). Ignored rather than half-checked.
    entity.tlogEntries = [];
    entity.timestamps = [];
  }
  const threshold = trust.requireTlog ? 1 : 0;
  let last: unknown;
  for (const key of trust.keys) {
    // The key hint in the bundle is ignored: every hint resolves to the policy's key.
    const material = toTrustMaterial(withCheckpointNames(trust.trustedRoot, bundle), () => ({ publicKey: key, validFor: () => true }));
    try {
      new Verifier(material, { tlogThreshold: threshold, timestampThreshold: threshold, ctlogThreshold: 0 }).verify(entity);
      return { kind: 'keyed', content: bundle.content.$case };
    } catch (e) {
      last = e;
    }
  }
  const reason = libraryReason(last);
  refuse(reason === 'signature-invalid' ? 'signature-invalid' : reason, reason === 'signature-invalid'
    ? 'signature does not verify with any trusted key (wrong key or tampered content)'
    : `signature rejected: ${describe(last)}`);
}

/** The SAN of the leaf certificate, by type, read by us (not matched by the library). */
function leafIdentity(bundle: Bundle): { email?: string; uri?: string } {
  const vm = bundle.verificationMaterial.content;
  const raw = vm.$case === 'certificate' ? vm.certificate.rawBytes : vm.$case === 'x509CertificateChain' ? vm.x509CertificateChain.certificates[0]?.rawBytes : undefined;
  if (!raw) refuse('certificate-invalid', 'bundle has no signing certificate');
  const san = X509Certificate.parse(Buffer.from(raw)).extSubjectAltName;
  const out: { email?: string; uri?: string } = {};
  if (san?.rfc822Name !== undefined) out.email = san.rfc822Name;
  if (san?.uri !== undefined) out.uri = san.uri;
  return out;
}

function verifyKeyless(bundle: Bundle, artifact: Artifact, trust: Extract<Trust, { kind: 'keyless' }>): VerifiedSignature {
  const vmCase = bundle.verificationMaterial.content.$case;
  if (vmCase !== 'certificate' && vmCase !== 'x509CertificateChain') {
    refuse('key-mismatch', 'bundle is signed with a bare key, but the policy requires a certificate (keyless) signature');
  }
  const material = toTrustMaterial(withCheckpointNames(trust.trustedRoot, bundle));
  const options = {
    tlogThreshold: 1,
    timestampThreshold: 1, // keyless: at least one verified timestamp, always
    ctlogThreshold: trust.trustedRoot.ctlogs.length > 0 ? 1 : 0,
  };
  let signer;
  try {
    signer = new Verifier(material, options).verify(entityFor(bundle, artifact));
  } catch (e) {
    refuse(libraryReason(e), `signature rejected: ${describe(e)}`);
  }
  const id = leafIdentity(bundle);
  const want = trust.identity;
  const ok =
    want.type === 'email' ? id.email === want.value : want.type === 'uri' ? id.uri === want.value : id.email === want.value || id.uri === want.value;
  if (!ok) {
    refuse('identity-mismatch', `certificate identity ${JSON.stringify(id.email ?? id.uri ?? '')} is not exactly ${JSON.stringify(want.value)}`);
  }
  const issuer = signer.identity?.extensions?.issuer;
  if (issuer !== trust.issuer) {
    refuse('issuer-mismatch', `certificate OIDC issuer ${JSON.stringify(issuer ?? '')} is not exactly ${JSON.stringify(trust.issuer)}`);
  }
  return { kind: 'keyless', content: bundle.content.$case, identity: want.value, issuer };
}

/** Verifies one bundle for `artifact`. Throws TRUST with a reason, or returns what was verified. */
export function verifyBundle(bundleBytes: Buffer, artifact: Artifact, trust: Trust, rules: ContentRules = {}): VerifiedSignature {
  const bundle = parseBundle(bundleBytes);
  checkMessageDigest(bundle, artifact);
  checkDsse(bundle, artifact, rules);
  return trust.kind === 'keyed' ? verifyKeyed(bundle, artifact, trust) : verifyKeyless(bundle, artifact, trust);
}

export function publicKeyFromPem(pem: string | Buffer, what: string): KeyObject {
  try {
    return createPublicKey(pem);
  } catch (e) {
    refuse('key-invalid', `${what} is not a PEM public key: ${(e as Error).message}`);
  }
}
