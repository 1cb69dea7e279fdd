/**
 * A run handed to the zygote's spare runs in the namespaces that the spare's prepared init made ahead
 * (native/main.c, "The prepared init"). These tests find that init before each run, so that they
 * know the run used it, and check what a clone at run time guaranteed: the namespaces are new and the
 * run's alone (the next run never gets them), the mount namespace is a copy of the host's mounts as
 * they are at the run (not when the spare was made), the workload is in the run's cgroup and its
 * cgroup namespace is rooted there, and as root it has no supplementary group and writes through its
 * idmapped binds with the uid slot held. A spare left unused ends with its process.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { run, type Result } from '../../src/api.js';
import { processesMatching, ROOT, sleep, TEST_USER, tempDirFor } from '../helpers/cli.js';

const API = join(ROOT, 'dist/src/api.js');
const NAMESPACES = ['user', 'pid', 'net', 'ipc', 'uts', 'mnt', 'cgroup'] as const;
/** made by the prepared init ahead of its run; mount and cgroup are made when the run starts */
const MADE_AHEAD = ['user', 'pid', 'net', 'ipc', 'uts'] as const;
const SHOW_NAMESPACES = `for n in ${NAMESPACES.join(' ')}; do readlink /proc/self/ns/$n; done`;

async function until(what: string, done: () => boolean, ms = 10_000): Promise<void> {
  for (let waited = 0; !done(); waited += 20) {
    if (waited >= ms) assert.fail(`still not true after ${ms} ms: ${what}`);
    await sleep(20);
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

function childrenOf(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return text ? text.split(/\s+/).map(Number) : [];
  } catch {
    return [];
  }
}

/** This process's zygote → its spare → the spare's prepared init, once all three exist. */
async function preparedInit(supervisor = process.pid): Promise<number> {
  let init = 0;
  await until('the spare has prepared its init', () => {
    const zygote = childrenOf(supervisor).find((c) => cmdline(c).includes(`\0--zygote\0--parent-pid\0${supervisor}\0`));
    const spare = zygote && childrenOf(zygote).find((c) => cmdline(c).startsWith(`sandbox-launcher (spare of zygote ${zygote})`));
    init = (spare && childrenOf(spare).find((c) => cmdline(c).startsWith('sandbox-init'))) || 0;
    return init > 0;
  });
  return init;
}

function ok(r: Result): string {
  assert.equal(r.status, 'OK', `${r.message}\n${r.stderr?.toString() ?? ''}`);
  return r.stdout?.toString() ?? '';
}

const dirs = tempDirFor(null, 'sbx-prepared-');
after(() => dirs.cleanup());

describe('runs through a prepared init', { timeout: 120_000 }, () => {
  test("a run gets its spare's new namespaces, and no later run ever gets them", async () => {
    ok(await run({ policy: 'strict', command: ['true'], stdin: 'ignore' }));
    const host = Object.fromEntries(NAMESPACES.map((k) => [k, readlinkSync(`/proc/self/ns/${k}`)]));
    // held open, so that no namespace of an earlier run is freed and its inode number reused
    const held: number[] = [];
    const earlier = new Set<string>();
    try {
      for (let i = 0; i < 3; i++) {
        const init = await preparedInit();
        const ahead = Object.fromEntries(MADE_AHEAD.map((k) => {
          const fd = openSync(`/proc/${init}/ns/${k}`, 'r');
          held.push(fd);
          return [k, `${k}:[${fstatSync(fd).ino}]`];
        }));
        const seen = ok(await run({ policy: 'strict', command: ['sh', '-c', SHOW_NAMESPACES], stdout: 'buffer' })).trim().split('\n');
        assert.equal(seen.length, NAMESPACES.length, seen.join('\n'));
        NAMESPACES.forEach((k, j) => {
          const ns = seen[j]!;
          assert.notEqual(ns, host[k], `not the host's ${k} namespace`);
          if (k in ahead) assert.equal(ns, ahead[k], `run ${i}: the ${k} namespace its prepared init made`);
        });
        for (const k of MADE_AHEAD) {
          assert.ok(!earlier.has(ahead[k]!), `run ${i}: its ${k} namespace is no earlier run's`);
          earlier.add(ahead[k]!);
        }
      }
    } finally {
      for (const fd of held) closeSync(fd);
    }
  });

  test('init, its network and its identity are as with a clone at run time', async () => {
    ok(await run({ policy: 'strict', command: ['true'], stdin: 'ignore' }));
    await preparedInit();
    const out = ok(await run({
      policy: 'strict',
      command: ['sh', '-c', 'cat /proc/1/cmdline; echo; echo $$; hostname; id -u; id -G; grep -E "^(Groups|CapEff|CapBnd):" /proc/self/status; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "; cat /proc/self/uid_map /proc/self/gid_map'],
      stdout: 'buffer',
    }));
    const lines = out.trim().split('\n').map((l) => l.trim());
    assert.equal(lines[0]!.replace(/\0+$/, ''), 'sandbox-init');
    assert.equal(lines[1], '2', 'the workload is pid 2');
    assert.equal(lines[2], 'sandbox');
    assert.deepEqual(lines.slice(3, 5), ['1000', '1000'], 'its uid, and its gid as its only group');
    if (process.geteuid!() === 0) {
      assert.match(lines[5]!, /^Groups:\s*$/, 'no supplementary group (as root: none of the zygote\'s)');
    } else {
      // rootless, the user's own groups stay (the kernel refuses setgroups in the user namespace): its
      // primary group shows as the inside gid, the others as the overflow gid; nothing else is mapped
      const groups = lines[5]!.replace(/^Groups:/, '').trim().split(/\s+/).filter(Boolean);
      assert.ok(groups.every((g) => g === '1000' || g === '65534'), lines[5]);
    }
    assert.match(lines[6]!, /^CapEff:\s*0+$/);
    assert.match(lines[7]!, /^CapBnd:\s*0+$/);
    assert.equal(lines[8], 'lo', 'only lo: brought up by init, which owns the namespace');
    const [uidMap, gidMap] = [lines[9]!.split(/\s+/), lines[10]!.split(/\s+/)];
    assert.equal(uidMap[0], '1000');
    assert.equal(uidMap[2], '1');
    assert.notEqual(uidMap[1], '0', 'never host root');
    assert.equal(gidMap[1], uidMap[1], 'the run\'s uid slot (as root), written after it was taken');
  });

  test("the workload is in the run's cgroup, and its cgroup namespace is rooted there", async () => {
    ok(await run({ policy: 'strict', command: ['true'], stdin: 'ignore', memory: '200M' }));
    await preparedInit();
    const marker = `sbx-prepared-cg-${process.pid}`;
    const pending = run({
      policy: 'strict', memory: '200M', pids: 50, stdout: 'buffer',
      // the marker is the shell's $0: only the workload's shell has it on its command line
      command: ['sh', '-c', 'cat /proc/self/cgroup; sleep 5; :', marker],
    });
    // seen from the host while it runs: in a memory cgroup of its own, whose limit is the run's
    const v1 = readFileSync('/proc/self/cgroup', 'utf8').split('\n').some((l) => l.split(':')[1] === 'memory');
    const cgroupOf = (text: string, controller: string) => {
      const line = text.split('\n').find((l) => (v1 ? l.split(':')[1] === controller : l.startsWith('0::')))!;
      return line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
    };
    let path = '';
    let limit = 0;
    try {
      await until('the workload runs', () => processesMatching(marker).length > 0);
      const pid = Number(processesMatching(marker)[0]!.trim().split(/\s+/)[0]);
      path = cgroupOf(readFileSync(`/proc/${pid}/cgroup`, 'utf8'), 'memory');
      limit = Number(readFileSync(v1 ? `/sys/fs/cgroup/memory${path}/memory.limit_in_bytes` : `/sys/fs/cgroup${path}/memory.max`, 'utf8').trim());
    } finally {
      for (const line of processesMatching(marker)) process.kill(Number(line.trim().split(/\s+/)[0]), 'SIGKILL');
    }
    assert.notEqual(path, cgroupOf(readFileSync('/proc/self/cgroup', 'utf8'), 'memory'), 'not the supervisor\'s cgroup');
    assert.equal(limit, 200 * 1024 * 1024, `${path}: the run's limit`);
    const inside = (await pending).stdout!.toString().trim().split('\n');
    // v1: a line per hierarchy; v2: the one hierarchy
    assert.ok(v1 ? inside.length > 1 : inside.length === 1, inside.join('\n'));
    for (const line of inside) assert.match(line, /:\/$/, `every hierarchy's root is the workload's own cgroup: ${inside.join(' | ')}`);
  });

  test("the prepared init's reading of a large plan is neither the run's CPU time nor missing from it", async () => {
    // The run's CPU is its cgroup's, less the setup the launcher reports. A moved the prepared init into
    // the run's cgroups while it might still be decoding the plan, whose CPU then counted as the
    // workload's (+13-17 ms with this 1.2 MB environment); reported whole as setup, what it spent
    // before the move went missing instead (-1 to -3 ms). A now moves it once it is ready (plan decoded).
    assert.equal(process.geteuid!(), 0, 'this test runs as root (CI does): the figure is the cgroup\'s');
    const program = join(dirs.path, 'selfcpu');
    const cc = spawnSync('cc', ['-O1', '-o', program, '-x', 'c', '-'], {
      encoding: 'utf8',
      input: `#include <stdio.h>
#include <time.h>
#include <unistd.h>
int main(void) { volatile unsigned long x = 0; for (unsigned long i = 0; i < 30000000UL; i++) x += i;
  struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); printf("%.3f", t.tv_sec * 1e3 + t.tv_nsec / 1e6); fflush(stdout); _exit(0); }`,
    });
    assert.equal(cc.status, 0, cc.stderr);
    const env = Object.fromEntries(Array.from({ length: 1200 }, (_, i) => [`V${i}`, 'x'.repeat(1000)]));
    ok(await run({ policy: 'strict', command: ['true'], stdin: 'ignore' }));
    for (let i = 0; i < 3; i++) {
      await preparedInit();
      const r = await run({ policy: 'strict', command: ['/opt/selfcpu'], bind: [`${program}:/opt/selfcpu`], env, stdin: 'ignore', stdout: 'buffer' });
      const self = Number(ok(r));
      assert.ok(r.time.cpuMs! >= self, `cpuMs ${r.time.cpuMs} is less than the ${self} ms the workload itself used`);
      // the rest is the workload's start (exec, the loader) and init's waiting: ~1-2 ms here
      assert.ok(r.time.cpuMs! <= self + 8, `cpuMs ${r.time.cpuMs}: ${(r.time.cpuMs! - self).toFixed(2)} ms more than the workload used`);
    }
  });

  test("a mount made on the host after the spare was prepared is in the run's view", async () => {
    assert.equal(process.geteuid!(), 0, 'this test runs as root (CI does)');
    // under a private mount, a later mount reaches no copy of the mount table made before it: a
    // mount namespace made with the spare would not show it
    const base = join(dirs.path, 'base');
    mkdirSync(base);
    const sh = (cmd: string) => {
      const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${cmd}: ${r.stderr}`);
    };
    sh(`mount --bind ${base} ${base} && mount --make-private ${base}`);
    try {
      ok(await run({ policy: 'strict', command: ['true'], stdin: 'ignore' }));
      await preparedInit();
      const late = join(base, 'late');
      mkdirSync(late);
      sh(`mount -t tmpfs -o size=1m none ${late}`);
      try {
        writeFileSync(join(late, 'hello'), 'mounted after the spare\n');
        const out = ok(await run({ policy: 'strict', command: ['cat', '/data/hello'], bind: [`${late}:/data:ro`], stdout: 'buffer' }));
        assert.equal(out, 'mounted after the spare\n');
      } finally {
        sh(`umount ${late}`);
      }
    } finally {
      sh(`umount ${base}`);
    }
  });

  test('as root: the uid slot and 20 idmapped writable binds reach a prepared init', async () => {
    assert.equal(process.geteuid!(), 0, 'this test runs as root (CI does)');
    const binds: string[] = [];
    for (let i = 0; i < 20; i++) {
      const d = join(dirs.path, `ws${i}`);
      mkdirSync(d, { mode: 0o755 });
      binds.push(`${d}:/ws${i}:rw`);
    }
    ok(await run({ policy: 'strict', command: ['true'], stdin: 'ignore' }));
    await preparedInit();
    const script = `for i in $(seq 0 19); do echo $i > /ws$i/out || exit 1; done; stat -c %u /ws19/out`;
    const r = await run({ policy: 'strict', command: ['sh', '-c', script], bind: binds, stdout: 'buffer', stderr: 'buffer' });
    assert.equal(ok(r).trim(), '1000', 'the workload\'s own file, inside');
    for (let i = 0; i < 20; i++) {
      const st = statSync(join(dirs.path, `ws${i}`, 'out'));
      assert.equal(st.uid, 0, `ws${i}: stored as the directory's owner (root), through the idmapped bind`);
      assert.equal(readFileSync(join(dirs.path, `ws${i}`, 'out'), 'utf8'), `${i}\n`);
    }
  });

  test("as root: the supervisor's supplementary groups never reach the workload", () => {
    assert.equal(process.geteuid!(), 0, 'this test runs as root (CI does)');
    // the prepared init is cloned before its run, from the zygote's identity: the spare drops the
    // groups first, as A does before a clone at run time (inside, they could not be dropped)
    const script = join(dirs.path, 'groups.mjs');
    writeFileSync(script, [
      `import { run } from ${JSON.stringify(API)};`,
      "for (let i = 0; i < 3; i++) {",
      "  const r = await run({ policy: 'strict', command: ['grep', '^Groups:', '/proc/self/status'], stdout: 'buffer' });",
      "  console.log(r.status, JSON.stringify(r.stdout.toString().trim()));",
      "  await new Promise((r) => setTimeout(r, 100));",
      '}',
    ].join('\n'));
    const r = spawnSync('setpriv', ['--groups', '4242,4243', '--', process.execPath, script], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), Array(3).fill('OK "Groups:"'));
  });

  test("a process's unused spare and its prepared init end with the process", () => {
    const script = join(dirs.path, 'spare.mjs');
    writeFileSync(script, [
      `import { run } from ${JSON.stringify(API)};`,
      "import { readFileSync } from 'node:fs';",
      "const kids = (p) => { try { return readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\\s+/).filter(Boolean).map(Number); } catch { return []; } };",
      "const title = (p) => { try { return readFileSync(`/proc/${p}/cmdline`, 'utf8'); } catch { return ''; } };",
      "for (let i = 0; i < 2; i++) await run({ policy: 'strict', command: ['true'], stdin: 'ignore' });",
      'for (let i = 0; i < 500; i++) {',
      "  const inits = kids(process.pid).flatMap(kids).flatMap(kids).filter((p) => title(p).startsWith('sandbox-init'));",
      '  if (inits.length) { console.log(inits.join(" ")); break; }',
      '  await new Promise((r) => setTimeout(r, 10));',
      '}',
    ].join('\n'), { mode: 0o644 });
    for (const user of [null, TEST_USER]) {
      const r = user
        ? spawnSync('runuser', ['-u', user, '--', process.execPath, script], { encoding: 'utf8', timeout: 60_000, cwd: dirs.path })
        : spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      const init = Number(r.stdout.trim());
      assert.ok(init > 0, `the script found its prepared init: ${r.stdout}`);
      // gone, or a zombie of the host's init: nothing of it runs, and its namespaces are released
      const state = () => { try { return readFileSync(`/proc/${init}/stat`, 'utf8').split(') ')[1]![0]; } catch { return 'gone'; } };
      const deadline = Date.now() + 5000;
      while (state() !== 'gone' && state() !== 'Z' && Date.now() < deadline) { /* wait */ }
      assert.ok(['gone', 'Z'].includes(state()!), `the prepared init (${user ?? 'root'}) is ${state()}`);
    }
  });
});
