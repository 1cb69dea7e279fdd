/**
 * buildPlan (src/launch/plan.ts) is pure: every mount decision of the sandbox is checked here from a
 * real policy and fabricated host facts, without privileges.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SandboxError } from '../../src/errors.js';
import { buildPlan, withCgroupFiles, type PlanImage } from '../../src/launch/plan.js';
import type { MountOp } from '../../src/launch/types.js';
import { hostFacts, policy, request } from './fixtures.js';

type AttrMount = Extract<MountOp, { attrs: unknown }>;
const withAttrs = (mounts: MountOp[]): AttrMount[] => mounts.filter((m): m is AttrMount => 'attrs' in m);
const at = (mounts: MountOp[], target: string): MountOp[] => mounts.filter((m) => m.target === target);
const DEVICES = ['null', 'zero', 'full', 'random', 'urandom'];

function image(over: Partial<PlanImage> = {}): PlanImage {
  return { rootfs: '/var/lib/sandbox/images/abc/rootfs', digest: 'sha256:abc', env: [], workingDir: '/', ...over };
}

function assertUsage(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SandboxError, `a SandboxError, got ${String(e)}`);
    assert.equal(e.code, 'USAGE');
    assert.match(e.message, message);
    return true;
  });
}

describe('buildPlan: mount attributes', () => {
  test('every mount is nosuid and nodev, except the /dev device binds (nosuid,noexec, no nodev)', () => {
    const plan = buildPlan(request({
      binds: [{ source: '/srv/a', target: '/work', mode: 'rw' }, { source: '/srv/b', target: '/data', mode: 'ro' }],
      tmpfs: [{ target: '/scratch', size: '1M' }],
    }));
    const mounts = withAttrs(plan.mounts);
    let deviceBinds = 0;
    for (const m of mounts) {
      const isDevice = m.op === 'bind' && m.target.startsWith('/dev/') && DEVICES.includes(m.target.slice(5)) && m.source === m.target;
      if (isDevice) {
        deviceBinds++;
        assert.deepEqual([...m.attrs].sort(), ['noexec', 'nosuid'], `${m.op} ${m.target}`);
      } else {
        assert.ok(m.attrs.includes('nosuid'), `${m.op} ${m.target} has nosuid: ${m.attrs}`);
        assert.ok(m.attrs.includes('nodev'), `${m.op} ${m.target} has nodev: ${m.attrs}`);
      }
    }
    assert.equal(deviceBinds, DEVICES.length, 'one bind per device of the policy');
    // the kinds that carry attributes are all present, so the loop above looked at each of them
    assert.deepEqual([...new Set(mounts.map((m) => m.op))].sort(), ['bind', 'proc', 'rebind', 'tmpfs']);
  });

  test('host binds are read-only; a rw user bind is writable but still nosuid,nodev', () => {
    const plan = buildPlan(request({
      binds: [{ source: '/srv/a', target: '/work', mode: 'rw' }, { source: '/srv/b', target: '/data', mode: 'ro' }],
    }));
    assert.deepEqual(at(plan.mounts, '/usr'), [{ op: 'bind', target: '/usr', source: '/usr', attrs: ['ro', 'nosuid', 'nodev'] }]);
    assert.deepEqual(at(plan.mounts, '/work'), [{ op: 'bind', target: '/work', source: '/srv/a', attrs: ['nosuid', 'nodev'] }]);
    assert.deepEqual(at(plan.mounts, '/data'), [{ op: 'bind', target: '/data', source: '/srv/b', attrs: ['ro', 'nosuid', 'nodev'] }]);
  });

  test('only device nodes are bound into /dev: a missing or non-device entry is not', () => {
    const plan = buildPlan(request({
      host: hostFacts({ '/dev/zero': { kind: 'missing' }, '/dev/full': { kind: 'file' }, '/dev/random': { kind: 'symlink', target: '/x' } }),
    }));
    const devBinds = plan.mounts.filter((m) => m.op === 'bind' && m.target.startsWith('/dev/')).map((m) => m.target);
    assert.deepEqual(devBinds, ['/dev/null', '/dev/urandom']);
  });

  test('/dev is a small tmpfs with the std symlinks and a sized /dev/shm; /tmp is sized from the policy', () => {
    const p = policy('strict');
    const plan = buildPlan(request({ policy: p }));
    assert.deepEqual(at(plan.mounts, '/dev'), [{ op: 'tmpfs', target: '/dev', options: 'mode=0755,size=64k,nr_inodes=64', attrs: ['nosuid', 'nodev', 'noexec'] }]);
    assert.deepEqual(at(plan.mounts, '/dev/fd'), [{ op: 'symlink', target: '/dev/fd', linkTo: '/proc/self/fd' }]);
    assert.deepEqual(at(plan.mounts, '/dev/shm'), [{ op: 'tmpfs', target: '/dev/shm', attrs: ['nosuid', 'nodev', 'noexec'], options: `mode=1777,size=${16 * 1024 * 1024}` }]);
    assert.deepEqual(at(plan.mounts, '/tmp'), [{ op: 'tmpfs', target: '/tmp', attrs: ['nosuid', 'nodev'], options: `mode=1777,size=${64 * 1024 * 1024},nr_inodes=4096` }]);
    assert.equal(at(plan.mounts, '/dev/tty').length, 0, 'no tty unless the policy asks for it');
  });
});

describe('buildPlan: /proc', () => {
  const plan = buildPlan(request());
  const procIndex = plan.mounts.findIndex((m) => m.op === 'proc');

  test('a new proc instance at /proc, nosuid,nodev,noexec', () => {
    assert.deepEqual(plan.mounts[procIndex], { op: 'proc', target: '/proc', attrs: ['nosuid', 'nodev', 'noexec'] });
  });

  for (const f of ['kcore', 'keys', 'timer_list', 'sched_debug', 'sysrq-trigger', 'kallsyms', 'kmsg', 'latency_stats', 'timer_stats', 'key-users']) {
    test(`/proc/${f} is masked by /dev/null, read-only, ifExists, after the proc mount`, () => {
      const i = plan.mounts.findIndex((m) => m.target === `/proc/${f}`);
      assert.ok(i > procIndex, `/proc/${f} masked after /proc is mounted (index ${i})`);
      assert.deepEqual(plan.mounts[i], { op: 'bind', target: `/proc/${f}`, source: '/dev/null', attrs: ['ro', 'nosuid', 'nodev', 'noexec', 'ifExists'] });
    });
  }

  for (const d of ['acpi', 'scsi', 'firmware']) {
    test(`/proc/${d} is hidden under an empty read-only tmpfs, ifExists`, () => {
      const [m] = at(plan.mounts, `/proc/${d}`);
      assert.ok(m && m.op === 'tmpfs', `/proc/${d}: ${JSON.stringify(m)}`);
      assert.ok(m.attrs.includes('ro') && m.attrs.includes('ifExists'));
      assert.match(m.options, /(^|,)size=0(,|$)/);
      assert.match(m.options, /(^|,)nr_inodes=1(,|$)/);
    });
  }

  test('/proc/sys is rebound read-only (ifExists), after the proc mount', () => {
    const i = plan.mounts.findIndex((m) => m.target === '/proc/sys');
    assert.ok(i > procIndex);
    const m = plan.mounts[i]!;
    assert.equal(m.op, 'rebind');
    assert.ok('attrs' in m && m.attrs.includes('ro') && m.attrs.includes('ifExists'), JSON.stringify(m));
  });
});

describe('buildPlan: host dirs (host-rootfs mode)', () => {
  test('dir → read-only bind, symlink → the same symlink, missing → nothing', () => {
    const plan = buildPlan(request());
    const ops = plan.mounts.filter((m) => ['/usr', '/bin', '/sbin', '/lib', '/lib64', '/lib32', '/libx32'].includes(m.target));
    assert.deepEqual(ops, [
      { op: 'bind', target: '/usr', source: '/usr', attrs: ['ro', 'nosuid', 'nodev'] },
      { op: 'symlink', target: '/bin', linkTo: 'usr/bin' },
      { op: 'symlink', target: '/sbin', linkTo: 'usr/sbin' },
      { op: 'symlink', target: '/lib', linkTo: 'usr/lib' },
      { op: 'symlink', target: '/lib64', linkTo: 'usr/lib64' },
    ]);
  });

  test('a split-/usr host gets a bind for each directory; entries that are neither dir nor symlink are skipped', () => {
    const plan = buildPlan(request({
      host: hostFacts({ '/bin': { kind: 'dir' }, '/lib': { kind: 'dir' }, '/sbin': { kind: 'file' }, '/lib64': { kind: 'other' } }),
    }));
    const targets = plan.mounts.filter((m) => m.op === 'bind' && m.source === m.target && !m.target.startsWith('/dev') && !m.target.startsWith('/etc')).map((m) => m.target);
    assert.deepEqual(targets, ['/usr', '/bin', '/lib']);
    assert.equal(at(plan.mounts, '/sbin').length, 0);
    assert.equal(at(plan.mounts, '/lib64').length, 0);
  });

  test('a host dir the policy does not list is not probed into the plan even if the host has it', () => {
    const p = policy();
    p.filesystem.hostDirs = ['/usr'];
    const plan = buildPlan(request({ policy: p, host: hostFacts({ '/opt': { kind: 'dir' } }) }));
    assert.equal(at(plan.mounts, '/opt').length, 0);
    assert.equal(at(plan.mounts, '/bin').length, 0);
    assert.equal(at(plan.mounts, '/usr').length, 1);
  });
});

describe('buildPlan: generated /etc', () => {
  const p = policy();
  p.identity = { uid: 1234, gid: 4321, user: 'judge', group: 'judges' };
  p.hostname = 'box7';
  p.filesystem.etcFromHost = ['ld.so.cache', 'alternatives', 'resolv.conf', 'localtime', 'nope'];
  const plan = buildPlan(request({
    policy: p,
    host: hostFacts({
      '/etc/resolv.conf': { kind: 'symlink', target: '/run/systemd/resolve/stub-resolv.conf' },
      '/etc/localtime': { kind: 'symlink', target: '/usr/share/zoneinfo/UTC' },
      '/etc/nope': { kind: 'missing' },
    }),
  }));
  const file = (target: string): string => {
    const [m] = at(plan.mounts, target);
    assert.ok(m && m.op === 'file', `${target} is a generated file`);
    return m.content;
  };

  test('/etc is a directory created in the root, before its files', () => {
    const i = plan.mounts.findIndex((m) => m.target === '/etc');
    assert.deepEqual(plan.mounts[i], { op: 'dir', target: '/etc', mode: 0o755 });
    assert.ok(plan.mounts.findIndex((m) => m.target === '/etc/passwd') > i);
  });

  test('passwd has the inside identity (and no host users)', () => {
    const passwd = file('/etc/passwd');
    assert.match(passwd, /^judge:x:1234:4321:/m);
    const names = passwd.trim().split('\n').map((l) => l.split(':')[0]).sort();
    assert.deepEqual(names, ['judge', 'nobody', 'root']);
  });

  test('group has the inside group', () => {
    assert.match(file('/etc/group'), /^judges:x:4321:$/m);
  });

  test('hosts maps localhost and the sandbox hostname to loopback', () => {
    const hosts = file('/etc/hosts');
    assert.match(hosts, /^127\.0\.0\.1\s+localhost box7$/m);
    assert.match(hosts, /^::1\s+localhost/m);
    assert.equal(file('/etc/hostname'), 'box7\n');
  });

  test('etcFromHost: real files and dirs are bound read-only; symlinks and missing entries are skipped', () => {
    const etcBinds = plan.mounts.filter((m) => m.op === 'bind' && m.target.startsWith('/etc/'));
    assert.deepEqual(etcBinds, [
      { op: 'bind', target: '/etc/ld.so.cache', source: '/etc/ld.so.cache', attrs: ['ro', 'nosuid', 'nodev'] },
      { op: 'bind', target: '/etc/alternatives', source: '/etc/alternatives', attrs: ['ro', 'nosuid', 'nodev'] },
    ]);
    assert.equal(at(plan.mounts, '/etc/resolv.conf').length, 0);
    assert.equal(at(plan.mounts, '/etc/localtime').length, 0);
    assert.equal(at(plan.mounts, '/etc/nope').length, 0);
  });

  test('the plan identity is the policy identity inside and the given host ids outside', () => {
    assert.deepEqual(plan.identity, { insideUid: 1234, insideGid: 4321, hostUid: 1001, hostGid: 1001, user: 'judge', group: 'judges' });
    assert.equal(plan.hostname, 'box7');
  });
});

describe('buildPlan: rlimits', () => {
  test('core 0 is always there, even when the policy sets no rlimit', () => {
    const p = policy();
    p.rlimits = {};
    const plan = buildPlan(request({ policy: p }));
    assert.deepEqual(plan.rlimits, [{ resource: 'core', soft: 0, hard: 0 }]);
  });

  test('policy rlimits are converted: sizes to bytes, counts as they are', () => {
    const p = policy();
    p.rlimits = { nofile: 64, nproc: 50, fsize: '1G', stack: '8M', as: 2147483648, memlock: '64K' };
    const plan = buildPlan(request({ policy: p }));
    const byName = Object.fromEntries(plan.rlimits.map((r) => [r.resource, [r.soft, r.hard]]));
    assert.deepEqual(byName, {
      core: [0, 0], nofile: [64, 64], nproc: [50, 50], fsize: [1073741824, 1073741824],
      stack: [8388608, 8388608], as: [2147483648, 2147483648], memlock: [65536, 65536],
    });
  });

  test('strict: nofile 256 and fsize 1G', () => {
    const plan = buildPlan(request({ policy: policy('strict') }));
    assert.deepEqual(plan.rlimits, [
      { resource: 'core', soft: 0, hard: 0 },
      { resource: 'nofile', soft: 256, hard: 256 },
      { resource: 'fsize', soft: 1073741824, hard: 1073741824 },
    ]);
  });

  test('extra rlimits win over the policy, but never over core 0', () => {
    const plan = buildPlan(request({
      extraRlimits: [{ resource: 'nofile', soft: 10, hard: 20 }, { resource: 'core', soft: 'unlimited', hard: 'unlimited' }, { resource: 'cpu', soft: 3, hard: 4 }],
    }));
    const byName = Object.fromEntries(plan.rlimits.map((r) => [r.resource, [r.soft, r.hard]]));
    assert.deepEqual(byName, { core: [0, 0], nofile: [10, 20], cpu: [3, 4] });
  });

  test("values above the invoking process's hard limit are lowered to it (a sandbox can only lower limits)", () => {
    const p = policy();
    p.rlimits = { nofile: 1024, fsize: '1G', stack: '8M' };
    const host = hostFacts();
    host.hardLimits = { nofile: 512, fsize: 'unlimited', stack: 16 * 1024 * 1024, cpu: 10 };
    const plan = buildPlan(request({ policy: p, host, extraRlimits: [{ resource: 'cpu', soft: 5, hard: 'unlimited' }] }));
    const byName = Object.fromEntries(plan.rlimits.map((r) => [r.resource, [r.soft, r.hard]]));
    assert.deepEqual(byName, {
      core: [0, 0], nofile: [512, 512], fsize: [1073741824, 1073741824], stack: [8388608, 8388608], cpu: [5, 10],
    });
  });

  test('a malformed size in the policy is a USAGE error naming the field', () => {
    const p = policy();
    p.rlimits = { fsize: '1 GB' };
    assertUsage(() => buildPlan(request({ policy: p })), /rlimits\.fsize: '1 GB' is not a size/);
  });
});

describe('buildPlan: user binds and tmpfs', () => {
  for (const target of ['/', '/proc', '/proc/sys', '/proc/1/root', '/dev', '/dev/shm', '/dev/null']) {
    test(`a bind at ${target} is refused (USAGE)`, () => {
      assertUsage(() => buildPlan(request({ binds: [{ source: '/srv', target, mode: 'ro' }] })), /bind target .* is not allowed/);
    });
    test(`a tmpfs at ${target} is refused (USAGE)`, () => {
      assertUsage(() => buildPlan(request({ tmpfs: [{ target }] })), /tmpfs target .* is not allowed/);
    });
  }

  test('targets that only share a prefix with /proc or /dev are allowed', () => {
    const plan = buildPlan(request({
      binds: [{ source: '/srv', target: '/procedures', mode: 'ro' }],
      tmpfs: [{ target: '/devel' }],
    }));
    assert.equal(at(plan.mounts, '/procedures').length, 1);
    assert.equal(at(plan.mounts, '/devel').length, 1);
  });

  test('binds are ordered parents first (stable among equals), after the sandbox mounts', () => {
    const plan = buildPlan(request({
      binds: [
        { source: '/s/abc', target: '/a/b/c', mode: 'ro' },
        { source: '/s/x', target: '/x', mode: 'ro' },
        { source: '/s/ab', target: '/a/b', mode: 'rw' },
        { source: '/s/a', target: '/a', mode: 'ro' },
        { source: '/s/y', target: '/y', mode: 'ro' },
      ],
    }));
    const user = plan.mounts.filter((m) => m.op === 'bind' && m.source.startsWith('/s/'));
    assert.deepEqual(user.map((m) => m.target), ['/x', '/a', '/y', '/a/b', '/a/b/c']);
    const firstUser = plan.mounts.indexOf(user[0]!);
    assert.ok(plan.mounts.findIndex((m) => m.target === '/tmp') < firstUser, 'user binds after /tmp');
    assert.ok(plan.mounts.findIndex((m) => m.op === 'proc') < firstUser, 'user binds after /proc');
  });

  test('user tmpfs: parents first, size from the spec or else the policy /tmp size', () => {
    const plan = buildPlan(request({ tmpfs: [{ target: '/w/cache', size: '2M' }, { target: '/w' }] }));
    const user = plan.mounts.filter((m) => m.op === 'tmpfs' && m.target.startsWith('/w'));
    assert.deepEqual(user, [
      { op: 'tmpfs', target: '/w', attrs: ['nosuid', 'nodev'], options: `mode=0755,size=${256 * 1024 * 1024},nr_inodes=65536` },
      { op: 'tmpfs', target: '/w/cache', attrs: ['nosuid', 'nodev'], options: `mode=0755,size=${2 * 1024 * 1024},nr_inodes=65536` },
    ]);
  });

  test('a bad tmpfs size is a USAGE error', () => {
    assertUsage(() => buildPlan(request({ tmpfs: [{ target: '/w', size: '2 MB' }] })), /tmpfs \/w size: '2 MB' is not a size/);
  });

  // The policy's binds and tmpfs come in the same lists as the caller's (prepare.ts merges them).
  test('two binds or tmpfs at one target are refused, naming both (the last bind hid the first)', () => {
    const bind = (source: string, target = '/x') => ({ source, target, mode: 'ro' as const });
    assertUsage(() => buildPlan(request({ binds: [bind('/srv/d1'), bind('/srv/d2')] })),
      /^two mounts at \/x: a bind of \/srv\/d1 and a bind of \/srv\/d2; give each bind and tmpfs \(the policy's and yours\) its own target$/);
    assertUsage(() => buildPlan(request({ binds: [bind('/srv/d1')], tmpfs: [{ target: '/x' }] })), /^two mounts at \/x: a tmpfs and a bind of \/srv\/d1;/);
    assertUsage(() => buildPlan(request({ tmpfs: [{ target: '/x' }, { target: '/x', size: '1M' }] })), /^two mounts at \/x: a tmpfs and a tmpfs;/);
    assertUsage(() => buildPlan(request({ binds: [bind('/srv/same'), bind('/srv/same')] })), /^two mounts at \/x: a bind of \/srv\/same and a bind of \/srv\/same;/);
    // nested is not the same target; and a mount of the sandbox's own (/tmp) may still be replaced
    const plan = buildPlan(request({ binds: [bind('/srv/d1'), bind('/srv/d2', '/x/y'), bind('/srv/t', '/tmp')] }));
    assert.equal(at(plan.mounts, '/x/y').length, 1);
  });
});

describe('buildPlan: environment', () => {
  test('image env < policy env < command-line env', () => {
    const p = policy();
    p.env = { PATH: '/policy/bin', B: 'policy', C: 'policy' };
    const plan = buildPlan(request({
      policy: p,
      image: image({ env: ['PATH=/image/bin', 'A=image', 'B=image', 'C=image', 'EQ=x=y', 'NOEQUALS', '=empty-name'] }),
      env: { C: 'cli', D: 'cli' },
    }));
    const env = Object.fromEntries(plan.env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    assert.deepEqual(env, { PATH: '/policy/bin', A: 'image', B: 'policy', C: 'cli', D: 'cli', EQ: 'x=y' });
    assert.equal(plan.env.length, 6, `each name once: ${plan.env}`);
  });

  // The launcher's decoder refuses such a plan as malformed, which read as "this is a bug, please report it".
  test('an entry past the launcher\'s limit, from the policy or the image, is a USAGE error naming it', () => {
    const p = policy();
    p.env = { BIG: 'x'.repeat(200_000) };
    assertUsage(() => buildPlan(request({ policy: p })), /^environment variable BIG is 200004 bytes; the sandbox accepts 1 to 131071$/);
    assertUsage(() => buildPlan(request({ image: image({ env: ['NUL=a\0b'] }) })), /^environment variable NUL contains a NUL byte; remove it$/);
  });

  test('host mode: the policy env and the command-line env only, nothing from the host', () => {
    const plan = buildPlan(request({ env: { LANG: 'C', EXTRA: '1' } }));
    const names = plan.env.map((kv) => kv.split('=')[0]).sort();
    assert.deepEqual(names, ['EXTRA', 'HOME', 'LANG', 'LOGNAME', 'PATH', 'USER']);
    assert.ok(plan.env.includes('LANG=C'));
  });
});

describe('buildPlan: root, namespaces, command', () => {
  test('host mode: the root is a small tmpfs', () => {
    const plan = buildPlan(request());
    assert.deepEqual(plan.root, { kind: 'tmpfs', options: 'mode=0755,size=1m,nr_inodes=4096' });
  });

  test('image mode: an overlay of the image rootfs; no host dirs and no generated /etc', () => {
    const p = policy('strict');
    const plan = buildPlan(request({ policy: p, image: image() }));
    assert.deepEqual(plan.root, {
      kind: 'image', source: '/var/lib/sandbox/images/abc/rootfs', writable: false, digest: 'sha256:abc',
      options: `mode=0755,size=${64 * 1024 * 1024}`,
    });
    const targets = plan.mounts.map((m) => m.target);
    for (const dir of ['/usr', '/bin', '/sbin', '/lib', '/lib64']) assert.ok(!targets.includes(dir), `${dir} not from the host`);
    assert.deepEqual(targets.filter((t) => t === '/etc' || t.startsWith('/etc/')), []);
    // the sandbox's own /proc, /dev and /tmp are still built
    assert.ok(plan.mounts.some((m) => m.op === 'proc'));
    assert.ok(targets.includes('/dev') && targets.includes('/tmp') && targets.includes('/proc/kcore'));
  });

  test('image mode follows policy.image.writable', () => {
    const plan = buildPlan(request({ image: image() }));
    assert.equal(plan.root.kind === 'image' && plan.root.writable, true);
  });

  test('all seven namespaces, always', () => {
    for (const name of ['default', 'strict']) {
      const plan = buildPlan(request({ policy: policy(name) }));
      assert.deepEqual([...plan.namespaces].sort(), ['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts']);
    }
  });

  test('argv, cwd, cgroup files and seccomp are passed through', () => {
    const seccomp = { hash: 'h', instructions: 1, program: Buffer.alloc(8), source: 's' };
    const plan = buildPlan(request({ argv: ['/bin/sh', '-c', 'x'], workdir: '/work', cgroupProcs: ['/sys/fs/cgroup/a/cgroup.procs'], seccomp }));
    assert.deepEqual(plan.argv, ['/bin/sh', '-c', 'x']);
    assert.equal(plan.cwd, '/work');
    assert.deepEqual(plan.cgroupProcs, ['/sys/fs/cgroup/a/cgroup.procs']);
    assert.equal(plan.seccomp, seccomp);
  });

  test('an empty command is a USAGE error', () => {
    assertUsage(() => buildPlan(request({ argv: [] })), /no command given/);
  });

  test('pure: the same request gives the same plan, and the request is not modified', () => {
    const req = request({ binds: [{ source: '/s/b', target: '/b/c', mode: 'ro' }, { source: '/s/a', target: '/b', mode: 'ro' }], tmpfs: [{ target: '/t/u' }, { target: '/t' }] });
    const before = structuredClone(req);
    const a = buildPlan(req);
    const b = buildPlan(req);
    assert.deepEqual(a, b);
    assert.deepEqual(req, before);
  });
});

describe('withCgroupFiles', () => {
  test('is the plan buildPlan makes with those cgroup files, and only that', () => {
    const procs = ['/sys/fs/cgroup/memory/sandbox/r1/cgroup.procs', '/sys/fs/cgroup/pids/sandbox/r1/cgroup.procs'];
    const before = buildPlan(request());
    assert.deepEqual(withCgroupFiles(before, procs, '/sys/fs/cgroup/cpuacct/sandbox/r1/cpuacct.usage'),
      buildPlan({ ...request(), cgroupProcs: procs, cpuUsageFile: '/sys/fs/cgroup/cpuacct/sandbox/r1/cpuacct.usage' }));
    assert.deepEqual(withCgroupFiles(before, [], null), buildPlan({ ...request(), cgroupProcs: [], cpuUsageFile: null }));
    // a plan that had a counter and gets none has none (not the old one)
    const withCounter = withCgroupFiles(before, procs, '/x/cpu.stat');
    assert.equal('cpuUsageFile' in withCgroupFiles(withCounter, procs, null), false);
    assert.deepEqual(before.cgroupProcs, request().cgroupProcs, 'the plan given is not changed');
  });

  test('the plan\'s limits are checked again: a cgroup path longer than the launcher takes is refused', () => {
    const long = `/sys/fs/cgroup/${'x'.repeat(5000)}/cgroup.procs`;
    assert.throws(() => withCgroupFiles(buildPlan(request()), [long], null), (e: unknown) => e instanceof SandboxError && e.code === 'USAGE' && /cgroup file/.test(e.message));
    assert.throws(() => withCgroupFiles(buildPlan(request()), [], long), (e: unknown) => e instanceof SandboxError && e.code === 'USAGE' && /CPU counter/.test(e.message));
  });
});
