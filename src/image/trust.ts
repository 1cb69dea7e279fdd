/**
 * Trust decisions: does this exact manifest digest satisfy the trust policy?
 * Called before any layer is unpacked (import) and again by digest before a run (prepareRunImage).
 * Fails closed: any doubt is a TRUST error with a reason; nothing here returns "maybe".
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import { SandboxError } from '../errors.js';
import { readConfigFile } from '../policy/read-config-file.js';
import { sha256 } from './digest.js';
import { requirementsFor, type SigstoreRequirement, type TrustPolicy } from './trust-policy.js';
import { certificatesDer, loadTrustedRoot, mergeTrustedRoots, publicKeyDer, trustedRootFromParts } from './trusted-root.js';
import { COSIGN_SIGN_PREDICATE, refuse, verifyBundle, type Trust, type VerifiedSignature } from './verify.js';

export interface ImageToCheck {
  name?: string;
  tag?: string;
  digest: string;
  manifestBytes: Buffer;
}

export interface SignatureSource {
  /** Where the bundle came from (referrer blob digest or sidecar file), for messages. */
  source: string;
  bytes: Buffer;
}

export interface TrustDecision {
  scope: string;
  digest: string;
  /** One line per satisfied requirement. */
  satisfied: string[];
  signatures: VerifiedSignature[];
}

/** A key or CA file named by the trust policy: a regular file of at most 4 MiB (not /dev/zero, a FIFO...). */
function readPolicyFile(file: string, what: string): string {
  return readConfigFile(file, (why, errno) =>
    refuse('policy-invalid', errno ? `cannot read ${what} ${file} (${errno})` : `cannot read ${what} ${file}: ${why}`, { file }),
  ).toString('utf8');
}

/** Turns a sigstoreSigned requirement into trust material for verify.ts. */
export function trustFor(req: SigstoreRequirement): Trust {
  const roots: TrustedRoot[] = [];
  if (req.trustedRootPath) roots.push(loadTrustedRoot(req.trustedRootPath));
  const rekorPem = req.rekorPublicKeyPath ? readPolicyFile(req.rekorPublicKeyPath, 'rekor public key') : req.rekorPublicKeyData;
  const rekorKeyDer = rekorPem ? publicKeyDer(rekorPem, 'rekor public key') : undefined;
  if (req.fulcio) {
    const f = req.fulcio;
    const caText = f.caPath ? readPolicyFile(f.caPath, 'fulcio CA') : f.caData;
    const parts: { caDer?: Buffer[]; rekorKeyDer?: Buffer } = {};
    if (caText) parts.caDer = certificatesDer(caText, 'fulcio CA');
    if (rekorKeyDer) parts.rekorKeyDer = rekorKeyDer;
    if (parts.caDer || parts.rekorKeyDer) roots.push(trustedRootFromParts(parts));
    const identity = f.subjectEmail !== undefined ? { value: f.subjectEmail, type: 'email' as const } : { value: f.subjectURI!, type: 'uri' as const };
    return { kind: 'keyless', trustedRoot: mergeTrustedRoots(roots), identity, issuer: f.oidcIssuer };
  }
  if (rekorKeyDer) roots.push(trustedRootFromParts({ rekorKeyDer }));
  const pems: string[] = [
    ...(req.keyPath ? [readPolicyFile(req.keyPath, 'public key')] : []),
    ...(req.keyPaths ?? []).map((p) => readPolicyFile(p, 'public key')),
    ...(req.keyData ? [req.keyData] : []),
    ...(req.keyDatas ?? []),
  ];
  const keys: KeyObject[] = pems.map((p) => createPublicKey({ key: publicKeyDer(p, 'trusted public key'), format: 'der', type: 'spki' }));
  const trustedRoot = mergeTrustedRoots(roots);
  return { kind: 'keyed', keys, trustedRoot, requireTlog: trustedRoot.tlogs.length > 0 };
}

function describeReq(req: SigstoreRequirement): string {
  if (req.fulcio) return `sigstoreSigned(keyless ${req.fulcio.subjectEmail ?? req.fulcio.subjectURI} via ${req.fulcio.oidcIssuer})`;
  return 'sigstoreSigned(key)';
}

/**
 * Checks `image` against `policy`. `requireSignature` (the run policy's `strict` mode) demands
 * that the applicable requirements include sigstoreSigned: insecureAcceptAnything alone is refused.
 * Throws TRUST (reason in details) when refused.
 */
export function evaluateTrust(policy: TrustPolicy, image: ImageToCheck, signatures: SignatureSource[], requireSignature: boolean): TrustDecision {
  // The digest we were given must be the digest of the bytes we check signatures against.
  if (sha256(image.manifestBytes) !== image.digest) {
    refuse('digest-mismatch', `manifest bytes do not hash to ${image.digest}`, { digest: image.digest });
  }
  const { scope, requirements } = requirementsFor(policy, image.name, image.tag);
  const details = { digest: image.digest, scope, policy: policy.file };
  if (requirements.some((r) => r.type === 'reject')) refuse('rejected', `trust policy scope "${scope}" rejects this image`, details);
  if (requireSignature && !requirements.some((r) => r.type === 'sigstoreSigned')) {
    refuse('signature-required', `the run policy requires signed images, but trust policy scope "${scope}" accepts ${image.digest} without a signature`, details);
  }
  const decision: TrustDecision = { scope, digest: image.digest, satisfied: [], signatures: [] };
  for (const req of requirements) {
    if (req.type === 'reject') refuse('rejected', `trust policy scope "${scope}" rejects this image`, details);
    if (req.type === 'insecureAcceptAnything') {
      decision.satisfied.push('insecureAcceptAnything');
      continue;
    }
    if (signatures.length === 0) {
      refuse('unsigned', `image ${image.digest} has no signature, and trust policy scope "${scope}" requires ${describeReq(req)}`, details);
    }
    const trust = trustFor(req);
    const failures: string[] = [];
    let ok: VerifiedSignature | undefined;
    let firstReason = 'signature-invalid';
    for (const sig of signatures) {
      try {
        ok = verifyBundle(sig.bytes, { digest: image.digest, bytes: image.manifestBytes }, trust, { predicateType: COSIGN_SIGN_PREDICATE });
        break;
      } catch (e) {
        if (!(e instanceof SandboxError)) throw e;
        if (failures.length === 0) firstReason = String(e.details.reason ?? 'signature-invalid');
        failures.push(`${sig.source}: ${e.message}`);
      }
    }
    if (!ok) {
      refuse(firstReason, `image ${image.digest} is not trusted: ${failures.join('; ')}`, { ...details, failures });
    }
    decision.satisfied.push(describeReq(req));
    decision.signatures.push(ok);
  }
  return decision;
}
