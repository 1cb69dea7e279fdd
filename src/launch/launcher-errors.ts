/**
 * Turns the launcher's structured failure reports (step, errno, index) into a message that says what
 * went wrong and what to do, and into the exit status conventions of docker/podman:
 * 125 the sandbox failed, 126 the command could not be executed, 127 the command was not found.
 */
import { constants } from 'node:os';
import { EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND, EXIT_SANDBOX_FAILURE } from '../errors.js';
import type { LaunchPlan } from './types.js';
import { DECODE_ERROR, PLAN_MAX, sourceTable, type StepName } from './wire.js';

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([k, v]) => [v, k]));

export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

export interface LaunchFailure {
  step: StepName;
  errno: number;
  index: number;
}

function decodeReason(code: number): string {
  const name = Object.entries(DECODE_ERROR).find(([, v]) => v === code)?.[0] ?? String(code);
  return name.toLowerCase().replace(/_/g, ' ');
}

const NAMESPACE_HINT = 'run `sandbox doctor` to see whether user namespaces are enabled on this host';

export function failureMessage(f: LaunchFailure, plan: LaunchPlan): string {
  const e = errnoName(f.errno);
  switch (f.step) {
    case 'DECODE':
      return `the launcher rejected the plan (${decodeReason(f.errno)} at record ${f.index}); this is a bug, please report it`;
    case 'BIND_SOURCE': {
      const src = sourceTable(plan)[f.index] ?? '?';
      if (f.errno === constants.errno.ELOOP || f.errno === constants.errno.EXDEV) {
        return `bind source ${src} contains a symlink; bind sources are never followed through symlinks — give the real path`;
      }
      if (f.errno === constants.errno.ENOENT) return `bind source ${src} does not exist`;
      if (f.errno === constants.errno.EACCES) {
        return `bind source ${src} is not accessible (${e})${plan.identity.hostUid !== process.geteuid!() ? '; as root, bind sources are opened with root\'s owner permissions only, without capabilities' : ''}`;
      }
      return `bind source ${src}: ${e}`;
    }
    case 'UID_SLOT': {
      const s = plan.uidSlots;
      if (f.errno === constants.errno.EBUSY && s) {
        return `all ${s.count} host uids of the sandbox range ${s.first}:${s.count} are in use by running sandboxes; widen it with --uid-range`;
      }
      return `cannot take a host uid slot in ${s?.lockDir ?? '?'}: ${e}`;
    }
    case 'JOIN_CGROUP':
      // native/main.c HOME_CGROUP_*: a held launcher's (--hold) own v2 cgroup, which it returns to
      if (f.index === PLAN_MAX.ITEMS) return `cannot find the launcher's own cgroup in /proc/self/cgroup: ${e}`;
      if (f.index === PLAN_MAX.ITEMS + 1) return `cannot move the launcher back to its own cgroup: ${e}`;
      return `cannot join cgroup ${plan.cgroupProcs[f.index] ?? '?'}: ${e}`;
    case 'CLONE':
      return `cannot create the sandbox's namespaces: ${e}; ${NAMESPACE_HINT}`;
    case 'ID_MAP':
      return `cannot write the user namespace's ${['setgroups', 'uid_map', 'gid_map'][f.index] ?? 'id map'}: ${e}; ${NAMESPACE_HINT}`;
    case 'MOUNT': {
      const m = plan.mounts[f.index];
      const what = m ? `${m.op} ${m.target}` : `mount #${f.index}`;
      if (f.errno === constants.errno.ELOOP || f.errno === constants.errno.EXDEV) {
        return `${what}: the target path contains a symlink; mount targets are never followed through symlinks`;
      }
      if (m?.op === 'bind' && m.attrs.includes('idmap') && (f.errno === constants.errno.EINVAL || f.errno === constants.errno.EOPNOTSUPP)) {
        return `${what}: the filesystem of ${m.source} cannot be idmapped (${e}), which sharing a writable directory as root needs; use a directory on ext4/xfs/btrfs/tmpfs, or run rootless`;
      }
      if (f.errno === constants.errno.EROFS || f.errno === constants.errno.EACCES) {
        return `${what}: cannot create the mount point (${e}); its parent is read-only or not writable — choose a target that exists or lies in a tmpfs`;
      }
      if (f.errno === constants.errno.ENOTDIR) {
        return `${what}: a directory is needed where the sandbox has a file (${e}): the target, or one of its parents, is a file there — a directory is mounted on a directory`;
      }
      if (f.errno === constants.errno.EISDIR) {
        return `${what}: the target is a directory in the sandbox but the source is a file (${e}) — bind a file onto a file path`;
      }
      return `${what}: ${e}`;
    }
    case 'CHDIR': {
      const why = { ENOENT: 'does not exist in the sandbox', ENOTDIR: 'is not a directory in the sandbox', EACCES: "is not accessible to the sandbox's user" }[e];
      return `working directory ${plan.cwd}: ${why ? `${why} (${e})` : e}`;
    }
    case 'FIND_EXECUTABLE':
    case 'EXEC':
      if (f.errno === constants.errno.ENOENT && f.step === 'EXEC' && f.index === 1) {
        return `${plan.argv[0]}: cannot execute: the file exists, but its interpreter (the #! line) or ELF loader does not exist in the sandbox (${e})`;
      }
      if (f.errno === constants.errno.ENOENT) return `${plan.argv[0]}: command not found in the sandbox`;
      return `${plan.argv[0]}: cannot execute (${e})`;
    case 'RLIMIT':
      return `cannot set resource limit ${plan.rlimits[f.index]?.resource ?? f.index}: ${e}`;
    case 'SECCOMP':
      return `the kernel refused the seccomp filter: ${e}`;
    case 'RELAY':
      return `cannot set up the pipe for the workload's ${['stdin', 'stdout', 'stderr'][f.index % 10] ?? 'output'}: ${e}`;
    default:
      return `sandbox setup failed at step ${f.step.toLowerCase().replace(/_/g, ' ')}: ${e}`;
  }
}

export function failureExitCode(f: LaunchFailure): number {
  if (f.step === 'FIND_EXECUTABLE' || f.step === 'EXEC') {
    return f.errno === constants.errno.ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXECUTE;
  }
  return EXIT_SANDBOX_FAILURE;
}
