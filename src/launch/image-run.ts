/**
 * Running from an image: the verified image (src/image, checked against the trust policy by digest
 * before anything starts) and what its config contributes to the run, under the policy's restrictions.
 */
import { SandboxError } from '../errors.js';
import type { Policy } from '../policy/types.js';
import type { PlanImage } from './plan.js';
import { checkWorkdir, type RunSpec } from './run-spec.js';

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

/** An image config that cannot be run as it is: named as the image's, not as the caller's options. */
function badConfig(image: PlanImage, field: string, message: string): never {
  throw new SandboxError('IMAGE', `image config ${field} ${message}`, { reason: 'invalid-config', field, digest: image.digest });
}

/**
 * The image's Entrypoint + (the command given, or the image's Cmd). An empty program that comes from
 * the image config is refused here, naming the config: checkCommand would tell the caller to put a
 * command after `--`, which may be exactly what they did.
 */
export function imageCommand(given: string[], image: PlanImage): string[] {
  const entrypoint = image.entrypoint ?? [];
  const command = [...entrypoint, ...(given.length > 0 ? given : image.cmd ?? [])];
  if (command.length === 0) {
    throw new SandboxError('USAGE', 'the image config has neither Entrypoint nor Cmd: put the command after --', { digest: image.digest });
  }
  if (command[0] === '' && entrypoint.length > 0) badConfig(image, 'Entrypoint', 'starts with an empty string: there is no program to run; fix the image');
  if (command[0] === '' && given.length === 0) badConfig(image, 'Cmd', 'starts with an empty string: there is no program to run; put the command after --, or fix the image');
  return command;
}

/**
 * The image config's WorkingDir, when the caller gave no --workdir: checked as --workdir is, and
 * refused naming the image config, not an option the caller never passed.
 */
export function imageWorkdir(image: PlanImage): string | undefined {
  const dir = image.workingDir;
  if (!dir) return undefined;
  try {
    return checkWorkdir(dir);
  } catch {
    return badConfig(image, 'WorkingDir', `${JSON.stringify(dir.slice(0, 200))} is not an absolute path without '.', '..', empty components or NUL: fix the image, or give --workdir DIR`);
  }
}
