/**
 * The host checks behind `sandbox doctor`: each says what it found and, when something is missing,
 * the command that fixes it. The last check runs a real sandbox, because a host can pass every
 * individual probe and still refuse (an LSM, a seccomp profile around us, a container runtime).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { run } from '../api.js';
import { isSandboxError } from '../errors.js';
import { cacheDir, trustedCacheDir } from '../launch/seccomp.js';
import { launcherPath } from '../launch/supervisor.js';
import { elfInterpreter } from './elf.js';
import type { SlotClean } from './uid-slot-clean.js';

export interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix?: string;
}

export interface DoctorReport {
  kernel: string;
  euid: number;
  checks: Check[];
  cleaned?: string[];
  /** with clean, as root: unused uid-slot lock files removed, and those kept because a sandbox holds them */
  uidSlots?: SlotClean;
}

function readTrimmed(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

function kernelAtLeast(major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release());
  if (!m) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > major || (maj === major && min >= minor);
}

function checkKernel(): Check {
  // openat2 (5.6), close_range (5.11), mount_setattr (5.12)
  return kernelAtLeast(5, 12)
    ? { name: 'kernel', status: 'ok', detail: `Linux ${release()}` }
    : { name: 'kernel', status: 'fail', detail: `Linux ${release()} is older than 5.12 (openat2, close_range and mount_setattr are required)`, fix: 'upgrade the kernel (Debian 12: apt-get install linux-image-amd64)' };
}

/**
 * The launcher binary, and the module that starts it for one run (the CLI's way). Linked dynamically
 * (native/Makefile found no static libc), every run starts ~3 ms slower: a warning with the fix.
 */
async function checkLauncher(): Promise<Check> {
  let path: string;
  try {
    path = launcherPath();
    (await import('../launch/spawn.js')).spawnModule();
  } catch (e) {
    return { name: 'launcher', status: 'fail', detail: (e as Error).message, fix: 'npm run build:native' };
  }
  const interpreter = elfInterpreter(path);
  if (interpreter !== null) {
    return {
      name: 'launcher', status: 'warn',
      detail: `${path} is linked dynamically (${interpreter}): each run starts ~3 ms slower than with a static one`,
      fix: 'apt-get install libc6-dev (its static libc), then npm run build:native',
    };
  }
  return { name: 'launcher', status: 'ok', detail: `${path} (static-pie), and sandbox-spawn.node beside it` };
}

function checkUserNamespaces(euid: number): Check {
  const max = readTrimmed('/proc/sys/user/max_user_namespaces');
  if (max === '0') {
    return { name: 'user namespaces', status: 'fail', detail: 'user.max_user_namespaces is 0', fix: 'sysctl -w user.max_user_namespaces=15000 (and persist it in /etc/sysctl.d/)' };
  }
  const debian = readTrimmed('/proc/sys/kernel/unprivileged_userns_clone');
  if (debian === '0' && euid !== 0) {
    return { name: 'user namespaces', status: 'fail', detail: 'kernel.unprivileged_userns_clone is 0: unprivileged users may not create user namespaces', fix: 'sysctl -w kernel.unprivileged_userns_clone=1' };
  }
  const apparmor = readTrimmed('/proc/sys/kernel/apparmor_restrict_unprivileged_userns');
  if (apparmor === '1' && euid !== 0) {
    return {
      name: 'user namespaces', status: 'fail',
      detail: 'AppArmor restricts unprivileged user namespaces (Ubuntu 24.04 default): the launcher gets no capabilities in its namespace',
      fix: `add an AppArmor profile allowing \`userns,\` for ${safeLauncherPath()} (see README), or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`,
    };
  }
  return { name: 'user namespaces', status: 'ok', detail: `available (max_user_namespaces=${max ?? '?'})` };
}

function safeLauncherPath(): string {
  try { return launcherPath(); } catch { return 'native/build/sandbox-launcher'; }
}

async function checkCgroups(): Promise<Check> {
  const { probeCgroups } = await import('./cgroup/index.js');
  const p = await probeCgroups();
  const where = p.root ? ` at ${p.root}` : '';
  if (p.driver === 'none') {
    return {
      name: 'cgroups', status: 'warn',
      detail: `mode ${p.mode}; no cgroup this user may manage, so limits fall back to rlimits and supervisor accounting (less precise; pids per user namespace)`,
      ...(p.reason ? { fix: p.reason } : {}),
    };
  }
  const scope = p.scope ? ', in a systemd scope of its own for each run (systemd-run --user --scope -p Delegate=yes)' : '';
  return {
    name: 'cgroups', status: p.reason ? 'warn' : 'ok',
    detail: `mode ${p.mode}; driver ${p.driver}${where}${p.delegated ? ' (delegated)' : ''}${scope}; controllers: ${p.controllers.join(', ') || 'none'}`,
    ...(p.reason ? { fix: p.reason } : {}),
  };
}

function checkSeccomp(): Check {
  const actions = readTrimmed('/proc/sys/kernel/seccomp/actions_avail');
  const status = readTrimmed('/proc/self/status') ?? '';
  if (!actions || !/^Seccomp:/m.test(status)) {
    return { name: 'seccomp', status: 'fail', detail: 'seccomp filters are not available', fix: 'use a kernel built with CONFIG_SECCOMP_FILTER=y' };
  }
  return { name: 'seccomp', status: 'ok', detail: `filter actions: ${actions}` };
}

/**
 * Where compiled seccomp filters are kept between starts. Without it every start compiles its filter
 * again (~40 ms of a CLI start on the dev VM, and the seccomp generator is read), silently: e.g. as
 * another user whose HOME is still root's (setpriv, runuser -m, a container's USER with HOME=/root).
 */
function checkSeccompCache(euid: number): Check {
  const dir = cacheDir(euid);
  if (trustedCacheDir(euid) !== null) return { name: 'seccomp cache', status: 'ok', detail: `compiled filters are kept in ${dir}` };
  let why: string;
  try {
    const st = statSync(dir);
    why = !st.isDirectory() ? 'it is not a directory' : st.uid !== euid ? `it belongs to uid ${st.uid}, not to uid ${euid}` : 'others may write to it';
  } catch (e) {
    why = `it cannot be created (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  return {
    name: 'seccomp cache', status: 'warn',
    detail: `${dir} cannot be used: ${why}; every start compiles its seccomp filter again (tens of ms)`,
    fix: euid === 0
      ? `mkdir -p -m 0700 ${dir} (a directory of root's that no one else may write to)`
      : `run with HOME set to your own home directory, or XDG_CACHE_HOME to a directory you own (mode 0700)`,
  };
}

async function checkLandlock(): Promise<Check> {
  // landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) returns the ABI version.
  const lsms = readTrimmed('/sys/kernel/security/lsm');
  try {
    const { syscall3 } = await import('./libc.js');
    const abi = syscall3(444, 0, 0, 1);
    if (abi > 0) return { name: 'landlock', status: 'ok', detail: `ABI version ${abi}` };
  } catch { /* koffi unavailable: fall through */ }
  return {
    name: 'landlock', status: 'warn', detail: `not available${lsms ? ` (LSMs: ${lsms})` : ''}; the sandbox does not depend on it`,
    fix: 'boot with lsm=landlock,... on a kernel with CONFIG_SECURITY_LANDLOCK=y',
  };
}

function checkOverlay(): Check {
  const fs = readTrimmed('/proc/filesystems') ?? '';
  if (!/\boverlay$/m.test(fs)) {
    return { name: 'overlayfs', status: 'warn', detail: 'overlay is not loaded: `sandbox exec --image` needs it', fix: 'modprobe overlay' };
  }
  if (!kernelAtLeast(5, 11)) {
    return { name: 'overlayfs', status: 'warn', detail: 'overlayfs in user namespaces needs Linux 5.11', fix: 'upgrade the kernel' };
  }
  return { name: 'overlayfs', status: 'ok', detail: 'available in user namespaces' };
}

async function checkEndToEnd(): Promise<Check> {
  if (!existsSync('/bin/true') && !existsSync('/usr/bin/true')) {
    return { name: 'end-to-end', status: 'warn', detail: 'no /usr/bin/true to run' };
  }
  try {
    const r = await run({ policy: 'default', command: ['true'], stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' });
    return r.status === 'OK'
      ? { name: 'end-to-end', status: 'ok', detail: 'a sandbox ran /usr/bin/true' }
      : { name: 'end-to-end', status: 'fail', detail: r.message };
  } catch (e) {
    return { name: 'end-to-end', status: 'fail', detail: isSandboxError(e) ? e.message : String(e) };
  }
}

export async function runDoctorChecks(opts: { clean: boolean }): Promise<DoctorReport> {
  const euid = process.geteuid!();
  // Clean first: the end-to-end check starts a run, and a run sweeps leftovers itself.
  let cleaned: string[] | undefined;
  let uidSlots: SlotClean | undefined;
  if (opts.clean) {
    const { cleanStaleCgroups } = await import('./cgroup/index.js');
    cleaned = await cleanStaleCgroups();
    if (euid === 0) uidSlots = await (await import('./uid-slot-clean.js')).cleanUnusedUidSlots();
  }
  const checks: Check[] = [
    checkKernel(),
    await checkLauncher(),
    checkUserNamespaces(euid),
    await checkCgroups(),
    checkSeccomp(),
    checkSeccompCache(euid),
    await checkLandlock(),
    checkOverlay(),
    await checkEndToEnd(),
  ];
  return { kernel: release(), euid, checks, ...(cleaned ? { cleaned } : {}), ...(uidSlots ? { uidSlots } : {}) };
}
