/**
 * `sandbox doctor`: its checks as root and rootless, and `--clean` removing what a SIGKILLed
 * supervisor left behind (its processes die with it; its cgroup stays until the next run or this).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { LOCK_DIR } from '../../src/host/uid-slots.js';
import { CLI, ROOT, TEST_USER, cli, commandFor, modes, processesMatching, sleep, markerAssignment } from '../helpers/cli.js';

interface Report { euid: number; checks: { name: string; status: string; detail: string; fix?: string }[]; cleaned?: string[]; uidSlots?: { removed: number; held: number } }

for (const mode of modes()) {
  describe(`doctor (${mode.name})`, () => {
    test('--json lists every check, and the end-to-end run works here', async () => {
      const r = await cli(['doctor', '--json'], { user: mode.user });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const report = JSON.parse(r.stdout) as Report;
      const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
      for (const name of ['kernel', 'launcher', 'user namespaces', 'cgroups', 'seccomp', 'seccomp cache', 'landlock', 'overlayfs', 'end-to-end']) {
        assert.ok(byName[name], `check ${name} present`);
      }
      assert.equal(byName['user namespaces']!.status, 'ok');
      assert.equal(byName['launcher']!.status, 'ok', byName['launcher']!.detail);
      assert.match(byName['launcher']!.detail, /\(static-pie\)/);
      assert.equal(byName['seccomp cache']!.status, 'ok', byName['seccomp cache']!.detail);
      assert.equal(byName['end-to-end']!.status, 'ok', byName['end-to-end']!.detail);
      if (mode.user) {
        // rootless on a hybrid host: no cgroup to manage, said with the fix
        assert.equal(byName['cgroups']!.status, 'warn');
        assert.match(byName['cgroups']!.fix ?? '', /delegate|chown|cgroup v2/);
      } else {
        assert.match(byName['cgroups']!.detail, /driver v1/);
      }
    });

    test('text output names each check and its fix', async () => {
      const r = await cli(['doctor'], { user: mode.user });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^\[ok  \] user namespaces: /m);
      assert.match(r.stdout, /^\[ok  \] end-to-end: /m);
    });
  });
}

describe('doctor: a seccomp cache this user cannot use', () => {
  test('as the test user with root\'s HOME: a warning that names the directory, why, and the fix', () => {
    // runuser -m keeps the environment, HOME included (as setpriv does, and a container's USER line)
    const r = spawnSync('runuser', ['-m', '-u', TEST_USER, '--', process.execPath, CLI, 'doctor', '--json'],
      { encoding: 'utf8', cwd: tmpdir(), env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/root' } });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const check = (JSON.parse(r.stdout) as Report).checks.find((c) => c.name === 'seccomp cache');
    assert.equal(check?.status, 'warn', JSON.stringify(check));
    assert.match(check!.detail, /^\/root\/\.cache\/sandbox\/seccomp cannot be used: it cannot be created \(EACCES\); every start compiles/);
    assert.match(check!.fix ?? '', /HOME .* XDG_CACHE_HOME/);
  });
});

describe('doctor: a launcher linked dynamically', () => {
  test('a warning that it starts each run slower, with the fix', () => {
    // a copy of the package whose launcher is a dynamically linked program (/bin/true stands in for a
    // launcher built where no static libc exists: doctor reads its headers, and runs nothing of it here)
    const pkg = mkdtempSync(join(tmpdir(), 'sbx-dynamic-'));
    try {
      for (const part of ['dist', 'policies', 'package.json']) cpSync(join(ROOT, part), join(pkg, part), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
      cpSync(join(ROOT, 'native/build'), join(pkg, 'native/build'), { recursive: true });
      cpSync('/bin/true', join(pkg, 'native/build/sandbox-launcher'));
      const r = spawnSync(process.execPath, [join(pkg, 'dist/bin/sandbox.cjs'), 'doctor', '--json'], { encoding: 'utf8', cwd: tmpdir(), timeout: 60_000 });
      const check = (JSON.parse(r.stdout) as Report).checks.find((c) => c.name === 'launcher');
      assert.equal(check?.status, 'warn', JSON.stringify(check));
      assert.match(check!.detail, /sandbox-launcher is linked dynamically \(\/lib.*ld-linux.*\): each run starts ~3 ms slower/);
      assert.equal(check!.fix, 'apt-get install libc6-dev (its static libc), then npm run build:native');
    } finally {
      rmSync(pkg, { recursive: true, force: true });
    }
  });
});

/** Start a root run with a cgroup, SIGKILL its supervisor (the CLI); returns the leftover leaf. */
async function killedRun(marker: string): Promise<string> {
  const [cmd, argv] = commandFor(['exec', '--memory', '64M', '--', 'sh', '-c', `${markerAssignment(marker)}; sh -c 'sleep 1000; :' "$M"`], null);
  const child = spawn(cmd, argv, { stdio: 'ignore' });
  const closed = new Promise((r) => child.on('close', r));
  for (let i = 0; i < 200 && processesMatching(marker).length === 0; i++) await sleep(50);
  assert.equal(processesMatching(marker).length, 1, 'the workload started');
  const leaf = readdirSync(PARENT).find((n) => n.split('.')[1] === String(child.pid));
  assert.ok(leaf, `the run's cgroup exists under ${PARENT}`);
  child.kill('SIGKILL');
  await closed;
  for (let i = 0; i < 100 && processesMatching(marker).length > 0; i++) await sleep(20);
  assert.deepEqual(processesMatching(marker), [], 'parent-death signals took the sandbox down');
  assert.ok(existsSync(`${PARENT}/${leaf}`), 'a SIGKILLed supervisor cannot remove its cgroup');
  return leaf;
}

const PARENT = '/sys/fs/cgroup/memory/sandbox';

describe('after a supervisor SIGKILL (root)', () => {
  test('`sandbox doctor --clean` removes the leftover cgroup', async () => {
    const leaf = await killedRun(`sbx-sigkill-doctor-${process.pid}`);
    const r = await cli(['doctor', '--clean', '--json']);
    const report = JSON.parse(r.stdout) as Report;
    assert.ok(report.cleaned?.some((p) => p.endsWith(`/${leaf}`)), `cleaned: ${report.cleaned}`);
    assert.equal(existsSync(`${PARENT}/${leaf}`), false);
  });

  test('`sandbox doctor --clean` removes unused uid-slot lock files, and says so', async () => {
    const unused = join(LOCK_DIR, String(0x70000000 + 65000)); // a slot no run of the tests takes
    mkdirSync(LOCK_DIR, { recursive: true, mode: 0o700 });
    writeFileSync(unused, '');
    const json = JSON.parse((await cli(['doctor', '--clean', '--json'])).stdout) as Report;
    assert.ok((json.uidSlots?.removed ?? 0) >= 1, JSON.stringify(json.uidSlots));
    assert.equal(existsSync(unused), false);
    const text = await cli(['doctor', '--clean']);
    assert.match(text.stdout, /removed \d+ unused uid-slot lock file\(s\); \d+ held by running sandboxes/);
  });

  test('the next run removes the leftover cgroup', async () => {
    const leaf = await killedRun(`sbx-sigkill-next-${process.pid}`);
    const r = await cli(['exec', '--memory', '64M', '--', 'true']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(existsSync(`${PARENT}/${leaf}`), false);
  });
});
