/**
 * A policy as written in policies/*.json (validated against policies/schema.json) and the resolved
 * form after `extends` and CLI overrides are applied. Sizes are strings like "64M" (binary units) or
 * byte counts; durations are strings like "300ms" or "2s".
 */

export type Size = string | number;
export type Duration = string | number;

export type DeviceName = 'null' | 'zero' | 'full' | 'random' | 'urandom' | 'tty';

export interface BindSpec {
  source: string;
  target: string;
  mode: 'ro' | 'rw';
  /** decided by the sandbox, never by the caller: see src/launch/prepare.ts (idmapped writable binds) */
  idmap?: boolean;
}

export interface TmpfsSpec {
  target: string;
  size?: Size;
}

export interface FilesystemPolicy {
  /** Host directories bound read-only in host-rootfs mode (those that exist; symlinks are copied as symlinks). */
  hostDirs: string[];
  /** Files or directories of the host's /etc made visible read-only (never /etc wholesale). */
  etcFromHost: string[];
  tmp: { size: Size; inodes: number };
  devShm: { size: Size };
  devices: DeviceName[];
  binds: BindSpec[];
  tmpfs: TmpfsSpec[];
  workdir: string;
}

export interface LimitsPolicy {
  memory?: Size;
  /** swap allowed on top of memory; 0 (default) = swap counts as memory */
  swap?: Size;
  pids?: number;
  cpuTime?: Duration;
  wallTime?: Duration;
  cpus?: number;
  output?: Size;
  /** what to do when a declared limit has no kernel mechanism here: refuse to run, or run and report */
  onUnenforceable?: 'error' | 'report';
}

export interface RlimitsPolicy {
  nofile?: number;
  fsize?: Size;
  stack?: Size;
  nproc?: number;
  as?: Size;
  memlock?: Size;
}

export interface ImagePolicy {
  /** refuse images that do not satisfy a sigstoreSigned requirement of the trust policy */
  requireSignature: boolean;
  /** writable tmpfs overlay over the read-only image rootfs */
  writable: boolean;
}

export interface Policy {
  name: string;
  description: string;
  identity: { uid: number; gid: number; user: string; group: string };
  hostname: string;
  network: 'none';
  filesystem: FilesystemPolicy;
  env: Record<string, string>;
  rlimits: RlimitsPolicy;
  limits: LimitsPolicy;
  /** our seccomp section (inline) or { file } naming a profile (ours or OCI/Docker) next to the policy */
  seccomp: Record<string, unknown> | null;
  image: ImagePolicy;
}

export interface ResolvedPolicy {
  policy: Policy;
  /** files that made it, base first */
  files: string[];
  /** directory that relative paths in `seccomp.file` are resolved against (the file that set it) */
  seccompBaseDir: string;
}
