/**
 * The cgroup drivers, for real: groups are created in the kernel, real processes join them, limits bite.
 * On the host as root this exercises v1 (hybrid host); inside the VM (cgroup-v2-vm.test.ts) the same file
 * exercises v2 as root and as an unprivileged user in a delegated subtree; rootless on the host it checks that
 * the probe refuses with a reason and that nothing can be created.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRunCgroup, probeCgroups, cleanStaleCgroups, type RunCgroup } from '../../src/host/cgroup/index.js';
import { isSandboxError } from '../../src/errors.js';
import { alive, expectDelegated, expectedDriver, groupPids, readText, runId, spawnJoined, until } from './cgroup-helpers.js';

const expected = expectedDriver();
const MiB = 1 << 20;
/** Hang guard only (the VM runs under TCG emulation, several times slower than the host). */
const T = { timeout: 180_000 };

/** The leaf of one v1 hierarchy (mounted at /sys/fs/cgroup/<name> on the machines these tests target). */
function v1Leaf(cg: RunCgroup, hierarchy: string): string {
  const p = cg.paths.find((x) => x.includes(`/${hierarchy}/`));
  assert.ok(p, `no ${hierarchy} leaf in ${cg.paths.join(', ')}`);
  return p;
}

/** Probe + create as the unprivileged test user (no delegation on this host or in the VM's root cgroup). */
const AS_USER = `
const m = await import(process.env.SBX_INDEX);
const probe = await m.probeCgroups();
const err = await m.createRunCgroup('t-user', { memoryBytes: 1 << 26 }).then(async (cg) => { await cg.remove(); return null; }, (e) => e.code);
process.stdout.write(JSON.stringify({ probe, err }));
`;

if (process.getuid?.() === 0 && !expectDelegated()) {
  test('an unprivileged user without a delegated cgroup gets driver none, the fix, and a CGROUP error', T, () => {
    const id = (flag: string) => execFileSync('id', [flag, 'sbxtest'], { encoding: 'utf8' }).trim();
    const index = pathToFileURL(join(fileURLToPath(import.meta.url), '../../../src/host/cgroup/index.js')).href;
    const out = execFileSync('setpriv', [`--reuid=${id('-u')}`, `--regid=${id('-g')}`, '--init-groups',
      process.execPath, '--input-type=module', '-e', AS_USER], { env: { ...process.env, SBX_INDEX: index }, encoding: 'utf8' });
    const { probe, err } = JSON.parse(out) as { probe: { driver: string; reason?: string; root: unknown }; err: string | null };
    assert.equal(probe.driver, 'none');
    assert.equal(probe.root, null);
    assert.match(probe.reason ?? '', /not delegated/);
    assert.match(probe.reason ?? '', /rlimits/);
    assert.equal(err, 'CGROUP');
  });
}

if (expected === 'none') {
  test('rootless on a host without delegation: probe says none, with the fix, and nothing can be created', T, async () => {
    const p = await probeCgroups();
    assert.equal(p.driver, 'none');
    assert.equal(p.root, null);
    assert.match(p.reason ?? '', /delegat/);
    assert.match(p.reason ?? '', /rlimit/);
    await assert.rejects(createRunCgroup(runId('none'), { memoryBytes: 64 * MiB }), (e: unknown) => isSandboxError(e) && e.code === 'CGROUP');
    assert.deepEqual(await cleanStaleCgroups(), []);
  });
} else {
  test(`probe selects the ${expected} driver with every controller`, T, async () => {
    const p = await probeCgroups();
    assert.equal(p.driver, expected);
    assert.equal(p.delegated, expectDelegated());
    const want = expected === 'v1' ? ['cpu', 'cpuacct', 'freezer', 'memory', 'pids'] : ['cpu', 'memory', 'pids'];
    assert.deepEqual([...p.controllers].sort(), want);
    assert.ok(p.root && p.root.endsWith('/sandbox'), `root ${p.root}`);
    assert.equal(p.reason, undefined);
  });

  test('limits are written to the kernel, enforced flags are true, remove() leaves nothing and is idempotent', T, async () => {
    const cg = await createRunCgroup(runId('cfg'), { memoryBytes: 64 * MiB, pids: 10, cpuCores: 0.5 });
    try {
      assert.equal(cg.driver, expected);
      assert.deepEqual(cg.enforced, { memory: true, pids: true, cpuCores: true });
      assert.ok(!cg.notes.some((n) => /NOT enforced/.test(n)), cg.notes.join('\n'));
      assert.ok(cg.paths.every((p) => existsSync(p)));
      if (expected === 'v2') {
        assert.deepEqual(cg.paths, [cg.path]);
        assert.equal(readText(join(cg.path, 'memory.max')), String(64 * MiB));
        assert.equal(readText(join(cg.path, 'memory.swap.max')), '0');
        assert.equal(readText(join(cg.path, 'memory.oom.group')), '1');
        assert.equal(readText(join(cg.path, 'pids.max')), '10');
        assert.equal(readText(join(cg.path, 'cpu.max')), '50000 100000');
      } else {
        const mem = v1Leaf(cg, 'memory');
        assert.equal(cg.path, mem);
        assert.equal(readText(join(mem, 'memory.limit_in_bytes')), String(64 * MiB));
        assert.equal(readText(join(mem, 'memory.memsw.limit_in_bytes')), String(64 * MiB));
        assert.equal(readText(join(v1Leaf(cg, 'pids'), 'pids.max')), '10');
        assert.equal(readText(join(v1Leaf(cg, 'cpu'), 'cpu.cfs_quota_us')), '50000');
        assert.equal(readText(join(v1Leaf(cg, 'cpu'), 'cpu.cfs_period_us')), '100000');
        assert.ok(existsSync(v1Leaf(cg, 'freezer')) && existsSync(v1Leaf(cg, 'cpuacct')));
      }
      assert.equal(cg.procsFiles.length, cg.paths.length);
    } finally {
      await cg.remove();
    }
    assert.ok(cg.paths.every((p) => !existsSync(p)), 'a leaf survived remove()');
    await cg.remove(); // idempotent
  });

  test('no limits requested: nothing is claimed as enforced, accounting still works', T, async () => {
    const cg = await createRunCgroup(runId('nolim'), {});
    try {
      assert.deepEqual(cg.enforced, { memory: false, pids: false, cpuCores: false });
      assert.equal(cg.cpuUsageNs(), 0);
      const s = await cg.stats();
      assert.equal(s.cpuNs, 0);
      assert.equal(s.oomKilled, false);
    } finally {
      await cg.remove();
    }
  });

  test('a run id that could escape the parent, or a bad limit, is refused before anything is created', T, async () => {
    await assert.rejects(createRunCgroup('../escape', {}), (e: unknown) => isSandboxError(e) && e.code === 'CGROUP');
    await assert.rejects(createRunCgroup(runId('bad'), { memoryBytes: -1 }), (e: unknown) => isSandboxError(e) && e.code === 'CGROUP');
  });

  test('memory limit: the kernel OOM-kills the hog and stats report it, with the peak at the limit', T, async () => {
    const limit = 32 * MiB;
    const cg = await createRunCgroup(runId('oom'), { memoryBytes: limit });
    try {
      // dd fills a 64 MiB buffer from /dev/zero: twice the limit, all of it touched.
      const w = spawnJoined(cg, ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1']);
      const r = await w.exited;
      assert.equal(r.signal, 'SIGKILL', `dd was not OOM-killed: ${JSON.stringify(r)} ${w.stderr()}`);
      const s = await cg.stats();
      assert.equal(s.oomKilled, true);
      assert.ok(s.oomKillCount >= 1);
      assert.ok(s.memoryPeakBytes !== null, 'no peak counter');
      assert.equal(s.memoryPeakSource, expected === 'v2' ? 'memory.peak' : 'memory.memsw.max_usage_in_bytes');
      assert.ok(s.memoryPeakBytes! <= limit, `peak ${s.memoryPeakBytes} above the limit ${limit}`);
      assert.ok(s.memoryPeakBytes! > limit / 2, `peak ${s.memoryPeakBytes} far below the limit: was dd inside?`);
    } finally {
      await cg.remove();
    }
  });

  test('pids limit: forks beyond pids.max fail and the group never holds more tasks', T, async () => {
    const cg = await createRunCgroup(runId('pids'), { pids: 4 });
    try {
      const w = spawnJoined(cg, ['sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do sleep 600 </dev/null >/dev/null 2>&1 & done; wait']);
      const r = await w.exited; // the shell gives up when a fork fails (the sleeps do not hold its pipes)
      assert.match(w.stderr(), /fork/i, `no fork failure: ${JSON.stringify(r)}`);
      const s = await cg.stats();
      assert.ok((s.pidsLimitHits ?? 0) >= 1, `pids.events max=${s.pidsLimitHits}`);
      if (s.pidsPeak !== null && s.pidsPeak !== undefined) assert.ok(s.pidsPeak <= 4, `pids.peak ${s.pidsPeak}`);
      const left = groupPids(cg);
      assert.ok(left.length >= 1 && left.length <= 4, `tasks left: ${left.length}`);
      await cg.killAll();
      assert.deepEqual(groupPids(cg), []);
      assert.ok(left.every((p) => !alive(p)));
    } finally {
      await cg.remove();
    }
  });

  test('cpuUsageNs grows with a CPU-burning child and agrees with stats()', T, async () => {
    const cg = await createRunCgroup(runId('cpu'), {});
    try {
      const w = spawnJoined(cg, ['sh', '-c', 'while :; do :; done']);
      let prev = 0;
      await until(() => {
        const now = cg.cpuUsageNs();
        assert.ok(now >= prev, `cpu usage went backwards: ${prev} → ${now}`);
        prev = now;
        return now >= 200e6;
      }, '200 ms of CPU time in the group');
      const s = await cg.stats();
      assert.ok(s.cpuNs >= prev, `stats ${s.cpuNs} < counter ${prev}`);
      assert.ok((s.userNs ?? 0) > 0, 'no user time');
      await cg.killAll();
      assert.equal((await w.exited).signal, 'SIGKILL');
    } finally {
      await cg.remove();
    }
    assert.ok(cg.cpuUsageNs() >= 200e6, 'the final value is kept after remove()');
  });

  test('CPU bandwidth: a busy loop above the quota is throttled by the kernel', T, async () => {
    const cg = await createRunCgroup(runId('quota'), { cpuCores: 0.1 });
    try {
      assert.equal(cg.enforced.cpuCores, true);
      spawnJoined(cg, ['sh', '-c', 'while :; do :; done']);
      await until(async () => ((await cg.stats()).cpuThrottledPeriods ?? 0) > 0, 'a throttled period');
    } finally {
      await cg.remove();
    }
  });

  test('killAll kills a setsid double-forked daemon that ignores SIGTERM, and the group ends empty', T, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cg-daemon-'));
    const pidFile = join(dir, 'daemon.pid');
    const cg = await createRunCgroup(runId('daemon'), { pids: 32 });
    try {
      // setsid + double fork: the daemon ends in its own session, reparented away from the workload; TERM ignored.
      const daemon = `trap "" TERM HUP; (trap "" TERM HUP; exec sleep 600) & echo $! > ${pidFile}`;
      const w = spawnJoined(cg, ['sh', '-c', `setsid sh -c '${daemon}' & exec sleep 600`]);
      await until(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 'the daemon pid file');
      const dpid = Number(readFileSync(pidFile, 'utf8').trim());
      await until(() => groupPids(cg).includes(dpid), 'the daemon in the group');
      process.kill(dpid, 'SIGTERM'); // ignored
      assert.ok(alive(dpid), 'the daemon should ignore SIGTERM');
      const before = groupPids(cg);
      assert.ok(before.length >= 2, `group: ${before.join(' ')}`);
      await cg.killAll();
      assert.deepEqual(groupPids(cg), []);
      await until(() => !alive(dpid), 'the daemon to die', 5000);
      assert.ok(before.every((p) => !alive(p)), 'a task survived killAll');
      assert.equal((await w.exited).signal, 'SIGKILL');
    } finally {
      await cg.remove();
      rmSync(dir, { recursive: true, force: true });
    }
    assert.ok(cg.paths.every((p) => !existsSync(p)));
  });

  test('killAll empties a group while a fork bomb is churning at its pids limit', T, async () => {
    const cg = await createRunCgroup(runId('bomb'), { pids: 48 });
    try {
      // Each shell forks two more and waits; a failed fork ends that shell, which frees a slot for another fork:
      // the group keeps churning at the limit, so pids appear between any read of cgroup.procs and the kill.
      const w = spawnJoined(cg, ['sh', '-c', 'b() { b & b & wait; }; b 2>/dev/null']);
      await until(async () => ((await cg.stats()).pidsLimitHits ?? 0) > 20, 'the bomb to hit the pids limit');
      await cg.killAll();
      assert.deepEqual(groupPids(cg), []);
      await w.exited;
    } finally {
      await cg.remove();
    }
    assert.ok(cg.paths.every((p) => !existsSync(p)));
  });

  test('child groups a workload made inside its group are emptied and removed with it', T, async () => {
    const cg = await createRunCgroup(runId('nest'), {});
    const subs = cg.paths.map((p) => join(p, 'nested'));
    subs.forEach((d) => mkdirSync(d));
    const inner = { ...cg, procsFiles: subs.map((d) => join(d, 'cgroup.procs')) } as RunCgroup;
    const w = spawnJoined(inner, ['sleep', '600']);
    await until(() => readFileSync(inner.procsFiles[0]!, 'utf8').trim() !== '', 'sleep in the nested group');
    await cg.remove();
    assert.equal((await w.exited).signal, 'SIGKILL');
    assert.ok([...subs, ...cg.paths].every((p) => !existsSync(p)));
  });

  if (expected === 'v1') {
    test('v1: a task in a child group of one hierarchy only: the other leaves go at once, then it is frozen, killed, removed', T, async () => {
      // remove() first just rmdirs every leaf (the freezer's last); here only the freezer leaf is busy
      const cg = await createRunCgroup(runId('part'), {});
      const freezer = v1Leaf(cg, 'freezer');
      const nested = join(freezer, 'nested');
      mkdirSync(nested);
      const inner = { ...cg, procsFiles: [join(nested, 'cgroup.procs')] } as RunCgroup;
      const w = spawnJoined(inner, ['sleep', '600']);
      await until(() => readFileSync(inner.procsFiles[0]!, 'utf8').trim() !== '', 'sleep in the nested freezer group');
      await cg.remove();
      assert.equal((await w.exited).signal, 'SIGKILL');
      assert.ok([nested, ...cg.paths].every((p) => !existsSync(p)));
    });
  }

  test('remove() kills what is still running, and never throws for a leaf that is already gone', T, async () => {
    const cg = await createRunCgroup(runId('rm'), {});
    const w = spawnJoined(cg, ['sleep', '600']);
    await until(() => groupPids(cg).length === 1, 'sleep in the group');
    await cg.remove();
    assert.equal((await w.exited).signal, 'SIGKILL');
    assert.ok(cg.paths.every((p) => !existsSync(p)));
    await cg.remove();
    await cg.killAll(); // no group any more: nothing to kill
  });
}
