/**
 * Running from an image: the verified image (src/image, checked against the trust policy by digest
 * before anything starts) and what its config contributes to the run, under the policy's restrictions.
 */
import type { Policy } from '../policy/types.js';
import type { PlanImage } from './plan.js';
import type { RunSpec } from './run-spec.js';

export async function resolveImage(spec: RunSpec, policy: Policy): Promise<PlanImage | null> {
  if (!spec.image) return null;
  const { prepareRunImage } = await import('../image/index.js');
  const img = await prepareRunImage(spec.image, {
    requireSignature: policy.image.requireSignature,
    ...(spec.trustPolicy ? { trustPolicyPath: spec.trustPolicy } : {}),
    ...(spec.store ? { storeRoot: spec.store } : {}),
  });
  return {
    rootfs: img.rootfs, digest: img.digest, env: img.config.env, workingDir: img.config.workingDir,
    entrypoint: img.config.entrypoint, cmd: img.config.cmd, user: img.config.user,
  };
}

/**
 * The image config's User, under the policy's restrictions: a numeric uid[:gid] other than root
 * becomes the inside identity. Root (0) never does — the policy's identity stays. User *names* are
 * not resolved: that would mean reading the image's /etc/passwd from the host side, where a symlink
 * planted in the image could point at a host file; the policy's identity is used instead.
 */
export function applyImageUser(policy: Policy, user: string): void {
  const m = /^(\d+)(?::(\d+))?$/.exec(user.trim());
  if (!m) return;
  const uid = Number(m[1]);
  const gid = m[2] !== undefined ? Number(m[2]) : uid;
  if (uid >= 1 && uid <= 65533 && gid >= 1 && gid <= 65533) policy.identity = { ...policy.identity, uid, gid };
}

/** The image's Entrypoint + (the command given, or the image's Cmd). */
export function imageCommand(given: string[], image: PlanImage): string[] {
  return [...(image.entrypoint ?? []), ...(given.length > 0 ? given : image.cmd ?? [])];
}
