/**
 * Public API of the image subsystem, used by `sandbox exec --image` (the launcher) and the CLI.
 */
import path from 'node:path';
import { SandboxError } from '../errors.js';
import { ImageStore, defaultStoreRoot, defaultTrustPolicyPath } from './store.js';
import { loadTrustPolicy } from './trust-policy.js';
import type { RunConfig } from './media-types.js';

export { ImageStore, defaultStoreRoot, defaultTrustPolicyPath, parseRef } from './store.js';
export { loadTrustPolicy, parseTrustPolicy } from './trust-policy.js';
export { signLayout, loadPrivateKey } from './sign.js';
export { DEFAULT_LIMITS, type UnpackLimits } from './unpack.js';
export type { RunConfig } from './media-types.js';

export interface RunImage {
  /** Manifest digest, sha256:… */
  digest: string;
  /** Absolute path of the unpacked rootfs in the store; to be mounted read-only. */
  rootfs: string;
  config: RunConfig;
}

/**
 * Resolves REF in the store and re-verifies, by digest, that it satisfies the trust policy (fail
 * closed: SandboxError('TRUST', reason) otherwise), and that the stored rootfs belongs to that
 * digest. `requireSignature` is the run policy's strict mode: only sigstoreSigned requirements
 * can then admit the image.
 */
export async function prepareRunImage(
  ref: string,
  opts: { trustPolicyPath?: string; storeRoot?: string; requireSignature: boolean },
): Promise<RunImage> {
  const policy = loadTrustPolicy(opts.trustPolicyPath ?? defaultTrustPolicyPath());
  const store = new ImageStore(opts.storeRoot ?? defaultStoreRoot());
  let verified;
  try {
    verified = store.verifyStored(ref, policy, opts.requireSignature);
  } catch (e) {
    // Anything wrong with the stored image (missing, tampered blobs) is a refusal to run it.
    const reason = e instanceof SandboxError ? e.details.reason : undefined;
    if (e instanceof SandboxError && e.code === 'IMAGE' && reason !== 'ref-not-found' && reason !== 'invalid-ref') {
      throw new SandboxError('TRUST', `image ${ref} cannot be trusted: ${e.message}`, { ...e.details, reason: e.details.reason ?? 'store-corrupt' });
    }
    throw e;
  }
  return { digest: verified.digest, rootfs: path.resolve(verified.rootfs), config: { ...verified.config.config } };
}
