/** Unprivileged tests of the pure parts of the cgroup module: /proc parsers, naming, limit validation. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { dirForCgroupPath, layoutFrom, parseMountInfo, parseProcCgroup } from '../../src/host/cgroup/mounts.js';
import { leafName, ownerAlive, parseLeafName, parseStartTime, processStartTime, validateRunId } from '../../src/host/cgroup/naming.js';
import { cpuQuotaUs, memswBytes, validateLimits } from '../../src/host/cgroup/limits.js';
import { parseKeyed } from '../../src/host/cgroup/fs.js';
import { isSandboxError } from '../../src/errors.js';

// Taken from this project's CI machines (hybrid) and from a Debian 12 VM (unified).
const HYBRID = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const UNIFIED = `25 21 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
const COMOUNT = `31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:4 - cgroup cgroup rw,cpu,cpuacct
32 30 0:29 /docker/abc /sys/fs/cgroup/my\\040mem rw - cgroup cgroup rw,memory
`;

test('mountinfo: hybrid layout finds v1 controllers and the unified hierarchy, ignores name=systemd', () => {
  const mounts = parseMountInfo(HYBRID);
  assert.equal(mounts.length, 5);
  const l = layoutFrom(HYBRID, '0::/\n4:memory:/a/b\n');
  assert.equal(l.v2?.mountPoint, '/sys/fs/cgroup/unified');
  assert.deepEqual([...l.v1.keys()].sort(), ['cpu', 'cpuacct', 'memory']);
  assert.equal(l.v1.get('memory')?.mountPoint, '/sys/fs/cgroup/memory');
  assert.equal(l.self.v2Path, '/');
  assert.equal(l.self.v1Paths.get('memory'), '/a/b');
});

test('mountinfo: unified layout with optional fields; co-mounted and escaped v1 mounts', () => {
  const [u] = parseMountInfo(UNIFIED);
  assert.deepEqual(u, { fstype: 'cgroup2', root: '/', mountPoint: '/sys/fs/cgroup', controllers: [] });
  const [cc, mem] = parseMountInfo(COMOUNT);
  assert.deepEqual(cc!.controllers, ['cpu', 'cpuacct']);
  assert.equal(mem!.mountPoint, '/sys/fs/cgroup/my mem');
  assert.equal(mem!.root, '/docker/abc');
});

test('/proc/self/cgroup: v2 line and multi-controller v1 lines', () => {
  const p = parseProcCgroup('12:cpu,cpuacct:/x\n1:name=systemd:/s\n0::/user.slice/u.scope\n');
  assert.equal(p.v2Path, '/user.slice/u.scope');
  assert.equal(p.v1Paths.get('cpu'), '/x');
  assert.equal(p.v1Paths.get('cpuacct'), '/x');
});

test('dirForCgroupPath maps a cgroup path through the mount root, and refuses paths outside it', () => {
  const m = { fstype: 'cgroup2' as const, root: '/', mountPoint: '/sys/fs/cgroup', controllers: [] };
  assert.equal(dirForCgroupPath(m, '/'), '/sys/fs/cgroup');
  assert.equal(dirForCgroupPath(m, '/a/b'), '/sys/fs/cgroup/a/b');
  const sub = { ...m, root: '/docker/abc' };
  assert.equal(dirForCgroupPath(sub, '/docker/abc/x'), '/sys/fs/cgroup/x');
  assert.equal(dirForCgroupPath(sub, '/docker/abc'), '/sys/fs/cgroup');
  assert.equal(dirForCgroupPath(sub, '/docker/abcd'), null);
  assert.equal(dirForCgroupPath(sub, '/other'), null);
});

test('leaf names encode the owner and round-trip; run ids cannot escape the parent', () => {
  const n = leafName('run_1-a', 4242, '987654');
  assert.equal(n, 'run_1-a.4242.987654');
  assert.deepEqual(parseLeafName(n), { runId: 'run_1-a', pid: 4242, startTime: '987654' });
  for (const bad of ['', '..', 'a/b', 'a.b', 'x'.repeat(65), 'a b']) {
    assert.throws(() => validateRunId(bad), (e: unknown) => isSandboxError(e) && e.code === 'CGROUP', bad);
  }
  assert.equal(parseLeafName('sandbox-supervisor'), null);
  assert.equal(parseLeafName('a.0.1'), null);
  assert.equal(parseLeafName('a.12'), null);
});

test('start time parsing survives hostile command names and ignores zombies', () => {
  // field 3 is the state, fields 4..21 are filler, field 22 is the start time
  const fields = (state: string) => `${state} ${Array.from({ length: 18 }, (_, i) => i + 4).join(' ')} 777 23 24`;
  assert.equal(parseStartTime(`12 (a) b) ) ${fields('S')}`), '777');
  assert.equal(parseStartTime(`12 (x) ${fields('Z')}`), null);
  assert.equal(parseStartTime('garbage'), null);
  const mine = processStartTime(process.pid);
  assert.match(mine ?? '', /^\d+$/);
  assert.equal(ownerAlive({ pid: process.pid, startTime: mine! }), true);
  // pid reuse: same pid, different start time → not the owner
  assert.equal(ownerAlive({ pid: process.pid, startTime: String(Number(mine) + 1) }), false);
});

test('limit validation and arithmetic', () => {
  validateLimits({ memoryBytes: 1 << 20, swapBytes: 0, pids: 1, cpuCores: 0.001 });
  for (const l of [{ memoryBytes: 0 }, { memoryBytes: 1.5 }, { swapBytes: -1 }, { pids: 0 }, { cpuCores: 0 }, { cpuCores: NaN }]) {
    assert.throws(() => validateLimits(l), (e: unknown) => isSandboxError(e) && e.code === 'CGROUP', JSON.stringify(l));
  }
  assert.equal(cpuQuotaUs(1.5), 150_000);
  assert.equal(cpuQuotaUs(0.001), 1_000); // kernel minimum
  assert.equal(memswBytes({ memoryBytes: 100 }), 100); // swap counts as memory by default
  assert.equal(memswBytes({ memoryBytes: 100, swapBytes: 50 }), 150);
});

test('keyed file parsing', () => {
  const m = parseKeyed('usage_usec 120\nuser_usec 100\n oom_kill 3 \nbogus line here\n');
  assert.equal(m.get('usage_usec'), 120);
  assert.equal(m.get('oom_kill'), 3);
  assert.equal(m.has('bogus'), false);
});
