/**
 * Run commands on a real cgroup v2 kernel: Debian's 6.1 kernel under qemu (software emulation), with the host's
 * root filesystem shared read-only over 9p and made writable in the guest by an overlay with a tmpfs upper layer,
 * so the guest runs exactly the host's node, repo and dist/ without building an image.
 *
 *   initramfs (built here: busybox-static + the 9p/overlay modules + /init)
 *     → mounts host / (9p, ro) + tmpfs → overlay, a second 9p share ("xchg", rw) for jobs and results,
 *       proc/sys/dev/tmp, and cgroup2 on /sys/fs/cgroup
 *     → switch_root (not chroot: inside a chroot the kernel refuses to create user namespaces) into
 *       a shell script (pid1 'shell'), or into the host's systemd with that script as its boot unit
 *       (pid1 'systemd', for real login sessions, user managers and scopes)
 *     → guest.sh runs each job as root, or as an unprivileged user inside a delegated cgroup (chown of the
 *       directory and of cgroup.procs, cgroup.subtree_control, cgroup.threads — what systemd's Delegate=yes does),
 *       or (under systemd) as that user in a login session
 *     → poweroff -f.
 *
 * KVM hangs on these machines, so -accel tcg. Everything is built in one temp dir that is always removed.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S_IFCHR, S_IFDIR, S_IFREG, cpioArchive, type CpioEntry } from './cpio.js';

/** Load order matters: each module needs the ones before it (verified in ../shared/docs/host.md). */
const MODULES: [name: string, path: string][] = [
  ['virtio_ring', 'drivers/virtio/virtio_ring.ko'],
  ['virtio', 'drivers/virtio/virtio.ko'],
  ['virtio_pci_legacy_dev', 'drivers/virtio/virtio_pci_legacy_dev.ko'],
  ['virtio_pci_modern_dev', 'drivers/virtio/virtio_pci_modern_dev.ko'],
  ['virtio_pci', 'drivers/virtio/virtio_pci.ko'],
  ['netfs', 'fs/netfs/netfs.ko'],
  ['fscache', 'fs/fscache/fscache.ko'],
  ['9pnet', 'net/9p/9pnet.ko'],
  ['9pnet_virtio', 'net/9p/9pnet_virtio.ko'],
  ['9p', 'fs/9p/9p.ko'],
  ['overlay', 'fs/overlayfs/overlay.ko'],
];

const BUSYBOX = '/bin/busybox';
const QEMU = 'qemu-system-x86_64';
/** Where the xchg share appears in the guest. */
const XCHG = '/run/sbxvm';

export interface VmUser {
  name: string;
  uid: number;
  gid: number;
}

export interface VmJob {
  name: string;
  /** Shell command (sh -c semantics), run from `cwd`. */
  command: string;
  /** Default root. A user job runs inside a fresh cgroup delegated to that user. */
  user?: VmUser;
  /**
   * With `user` and `pid1: 'systemd'`: a real login session — `su --login` through PAM, so pam_systemd
   * registers it with logind (a session-N.scope of root's under user-UID.slice) and the user's own
   * systemd --user manager is started, with its bus at $XDG_RUNTIME_DIR/bus.
   */
  login?: boolean;
  env?: Record<string, string>;
}

export interface VmJobResult {
  name: string;
  /** null when the job did not finish (VM crashed or timed out). */
  exitCode: number | null;
  output: string;
}

export interface VmRun {
  jobs: VmJobResult[];
  /** The serial console: kernel messages and init's diagnostics. */
  console: string;
  timedOut: boolean;
  durationMs: number;
}

export interface VmOptions {
  timeoutMs?: number;
  memoryMiB?: number;
  cpus?: number;
  /** Working directory of every job (the host path, identical in the guest). Default: process.cwd(). */
  cwd?: string;
  /**
   * PID 1 after switch_root: 'shell' (default) runs the jobs from a plain shell script; 'systemd' boots the
   * host's systemd with the jobs as its one boot unit (sbxvm.service, with D-Bus and logind), for tests
   * that need a real systemd — its user managers, transient scopes, Delegate=yes. Slower to boot.
   */
  pid1?: 'shell' | 'systemd';
}

/** systemd's boot unit in the 'systemd' mode: the jobs' script, once D-Bus and logind can be reached. */
const BOOT_UNIT = `[Unit]
Description=sandbox VM test jobs
Wants=dbus.socket systemd-logind.service
After=dbus.socket systemd-logind.service systemd-user-sessions.service

[Service]
Type=oneshot
ExecStart=/bin/sh ${XCHG}/guest.sh
StandardOutput=journal+console
StandardError=journal+console
`;

/** The newest Debian 6.1 kernel and its modules; throws with the install command when absent. */
export function findKernel(): { kernel: string; modules: string; version: string } {
  const versions = (existsSync('/boot') ? readdirSync('/boot') : [])
    .map((f) => /^vmlinuz-(6\.1\.\d+-\d+-amd64)$/.exec(f)?.[1])
    .filter((v): v is string => !!v && existsSync(`/lib/modules/${v}/kernel`))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const version = versions.at(-1);
  if (!version) {
    throw new Error('no /boot/vmlinuz-6.1.*-amd64 with modules: apt-get install linux-image-amd64 qemu-system-x86 busybox-static');
  }
  return { kernel: `/boot/vmlinuz-${version}`, modules: `/lib/modules/${version}/kernel`, version };
}

function initScript(repo: string, pid1: 'shell' | 'systemd'): string {
  const insmods = MODULES.map(([n]) => `insmod /lib/modules/${n}.ko || fail "insmod ${n}"`).join('\n');
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
fail() { echo "SBXVM-INIT-FAIL: $*"; poweroff -f; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
${insmods}
# msize: bigger 9p messages make node's many small reads of the host fs much faster.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 host /lower || fail "mount host"
mount -t tmpfs -o size=1g tmpfs /upper && mkdir -p /upper/u /upper/w || fail "tmpfs upper"
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w /newroot || fail "overlay"
mount -t proc proc /newroot/proc || fail "proc"
mount -t sysfs sysfs /newroot/sys || fail "sysfs"
mount -t devtmpfs devtmpfs /newroot/dev || fail "dev"
mount -t tmpfs tmpfs /newroot/tmp || fail "tmp"
mount -t tmpfs tmpfs /newroot/run && mkdir -p /newroot${XCHG} || fail "run"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 xchg /newroot${XCHG} || fail "mount xchg"
mount -t cgroup2 none /newroot/sys/fs/cgroup || fail "cgroup2"
# The working directory (the repo) is shared on its own and mounted at the same path: the guest's own
# /tmp and /run would otherwise hide it when it lives there (a CI checkout may).
mkdir -p /newroot${repo} && mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 repo /newroot${repo} || fail "mount repo"
${pid1 === 'systemd'
    ? `mkdir -p /newroot/etc/systemd/system && cp /sbxvm.service /newroot/etc/systemd/system/ || fail "boot unit"
# The host's /.dockerenv would make systemd believe it runs in a container (and ignore the kernel's
# command line); removed in the overlay only.
rm -f /newroot/.dockerenv
exec switch_root /newroot /lib/systemd/systemd --unit=sbxvm.service`
    : `exec switch_root /newroot /bin/sh ${XCHG}/guest.sh`}
`;
}

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** PID 1 after switch_root (the host's dash). Job output goes to files in the xchg share, markers to the console. */
function guestScript(jobs: VmJob[], cwd: string): string {
  const lines = [
    '#!/bin/sh',
    'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8',
    `X=${XCHG}`,
    'echo "SBXVM-READY $(uname -r) $(stat -fc %T /sys/fs/cgroup)"',
    'echo "+memory +pids +cpu" > /sys/fs/cgroup/cgroup.subtree_control || echo "SBXVM: cannot enable controllers"',
  ];
  jobs.forEach((job, i) => {
    lines.push(`cd ${shq(cwd)}`);
    if (job.user && job.login) {
      lines.push(`su --login --shell=/bin/sh --command "cd ${shq(cwd)} && sh $X/job-${i}.sh" ${job.user.name} > $X/job-${i}.out 2>&1 < /dev/null; echo $? > $X/job-${i}.rc`);
    } else if (!job.user) {
      lines.push(`HOME=/root sh $X/job-${i}.sh > $X/job-${i}.out 2>&1 < /dev/null; echo $? > $X/job-${i}.rc`);
    } else {
      const u = job.user;
      const d = `/sys/fs/cgroup/sbxvm-deleg-${i}`;
      // Delegate as systemd does: the directory and the three files a delegatee needs; the limit files of the
      // delegated group itself stay root's (they distribute the parent's resources).
      lines.push(
        `mkdir ${d} && chown ${u.uid}:${u.gid} ${d} ${d}/cgroup.procs ${d}/cgroup.subtree_control ${d}/cgroup.threads`,
        `sh -c 'echo $$ > ${d}/cgroup.procs && exec setpriv --reuid=${u.uid} --regid=${u.gid} --init-groups ` +
          `env HOME=/home/${u.name} USER=${u.name} LOGNAME=${u.name} sh $0' $X/job-${i}.sh > $X/job-${i}.out 2>&1 < /dev/null; echo $? > $X/job-${i}.rc`,
      );
    }
    lines.push(`echo "SBXVM-JOB-DONE ${i} $(cat $X/job-${i}.rc)"`);
  });
  lines.push('sync', '/bin/busybox poweroff -f', '');
  return lines.join('\n');
}

function jobScript(job: VmJob): string {
  const env = Object.entries(job.env ?? {}).map(([k, v]) => `export ${k}=${shq(v)}`);
  return ['#!/bin/sh', ...env, job.command, ''].join('\n');
}

function buildInitramfs(modulesDir: string, repo: string, pid1: 'shell' | 'systemd'): Buffer {
  const entries: CpioEntry[] = ['bin', 'dev', 'proc', 'sys', 'lower', 'upper', 'newroot', 'lib', 'lib/modules'].map((name) => ({
    name,
    mode: S_IFDIR | 0o755,
  }));
  // Without /dev/console in the initramfs, /init starts with no stdout and its diagnostics are lost.
  entries.push({ name: 'dev/console', mode: S_IFCHR | 0o600, rdevMajor: 5, rdevMinor: 1 });
  entries.push({ name: 'bin/busybox', mode: S_IFREG | 0o755, data: readFileSync(BUSYBOX) });
  entries.push({ name: 'init', mode: S_IFREG | 0o755, data: Buffer.from(initScript(repo, pid1)) });
  if (pid1 === 'systemd') entries.push({ name: 'sbxvm.service', mode: S_IFREG | 0o644, data: Buffer.from(BOOT_UNIT) });
  for (const [name, rel] of MODULES) {
    entries.push({ name: `lib/modules/${name}.ko`, mode: S_IFREG | 0o644, data: readFileSync(join(modulesDir, rel)) });
  }
  return cpioArchive(entries);
}

/** Boot once, run the jobs in order, power off. Never throws for job failures: look at exitCode/output. */
export async function runInVm(jobs: VmJob[], opts: VmOptions = {}): Promise<VmRun> {
  const { kernel, modules } = findKernel();
  const cwd = opts.cwd ?? process.cwd();
  const work = mkdtempSync(join(tmpdir(), 'sbxvm-'));
  const started = Date.now();
  try {
    const xchg = join(work, 'xchg');
    const initrd = join(work, 'initramfs.cpio');
    if (!/^\/[A-Za-z0-9._\/-]*$/.test(cwd)) throw new Error(`the VM harness needs a plain absolute working directory, not ${cwd}`);
    const pid1 = opts.pid1 ?? 'shell';
    writeFileSync(initrd, buildInitramfs(modules, cwd, pid1));
    // mkdtemp makes 0700 directories; the unprivileged guest user must be able to read its job script.
    mkdirSync(xchg);
    chmodSync(work, 0o755);
    chmodSync(xchg, 0o755);
    writeFileSync(join(xchg, 'guest.sh'), guestScript(jobs, cwd), { mode: 0o755 });
    jobs.forEach((j, i) => writeFileSync(join(xchg, `job-${i}.sh`), jobScript(j), { mode: 0o644 }));

    const args = [
      '-accel', 'tcg', // KVM hangs on these machines
      '-m', String(opts.memoryMiB ?? 2048),
      '-smp', String(opts.cpus ?? 2),
      '-nographic', '-no-reboot', '-nic', 'none',
      '-kernel', kernel, '-initrd', initrd,
      '-append', `console=ttyS0 quiet panic=-1${pid1 === 'systemd' ? ' systemd.show_status=1' : ''}`,
      '-virtfs', 'local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap',
      '-virtfs', `local,path=${xchg},mount_tag=xchg,security_model=none,multidevs=remap`,
      '-virtfs', `local,path=${cwd},mount_tag=repo,security_model=none,readonly=on,multidevs=remap`,
    ];
    const qemu = spawn(QEMU, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    // If this process exits first (test runner timeout, uncaught error), do not leave an emulator spinning.
    const reap = () => qemu.kill('SIGKILL');
    process.once('exit', reap);
    let consoleText = '';
    qemu.stdout!.on('data', (d: Buffer) => (consoleText += d.toString()));
    qemu.stderr!.on('data', (d: Buffer) => (consoleText += d.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      qemu.kill('SIGKILL');
    }, opts.timeoutMs ?? 600_000);
    await new Promise<void>((resolve) => {
      qemu.on('error', (e) => {
        consoleText += `\nspawn ${QEMU}: ${e.message} (apt-get install qemu-system-x86)\n`;
        resolve();
      });
      qemu.on('close', () => resolve());
    });
    clearTimeout(timer);
    process.removeListener('exit', reap);

    const results = jobs.map((job, i): VmJobResult => {
      const read = (f: string) => (existsSync(join(xchg, f)) ? readFileSync(join(xchg, f), 'utf8') : null);
      const rc = read(`job-${i}.rc`);
      return { name: job.name, exitCode: rc === null ? null : Number(rc.trim()), output: read(`job-${i}.out`) ?? '' };
    });
    return { jobs: results, console: consoleText, timedOut, durationMs: Date.now() - started };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
