/**
 * Rootless on a systemd cgroup v2 host whose login session is not delegated: each run's launcher is
 * started in a delegated scope of its own (systemd-run --user --scope -p Delegate=yes), and the run's
 * limits are enforced and measured there. Runs inside the VM (test/limits/cgroup-v2-vm.test.ts), as an
 * unprivileged user whose cgroups are laid out as systemd lays out a login session. These machines have
 * no systemd --user, so systemd-run is a test double (test/vm/fake-systemd-run.sh) that does what the
 * user's manager does for such a scope. On the host this module registers no test.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { Result } from '../../src/launch/result.js';

const REPO = join(fileURLToPath(import.meta.url), '../../../..'); // dist/test/vm → repo
const CLI = join(REPO, 'dist/bin/sandbox.cjs');

if (process.env['SANDBOX_VM_GUEST_SCOPE'] === '1') {
  const dir = mkdtempSync(join(tmpdir(), 'sbx-scope-'));
  mkdirSync(join(dir, 'bin'));
  copyFileSync(join(REPO, 'test/vm/fake-systemd-run.sh'), join(dir, 'bin/systemd-run'));
  spawnSync('chmod', ['755', join(dir, 'bin/systemd-run')]);
  mkdirSync(join(dir, 'run/systemd'), { recursive: true });
  writeFileSync(join(dir, 'run/systemd/private'), ''); // where a user manager's socket would be
  const env = { ...process.env, PATH: `${join(dir, 'bin')}:${process.env['PATH']}`, XDG_RUNTIME_DIR: join(dir, 'run') };
  const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env, timeout: 240_000 });
  const exec = (args: string[], command: string[]): Result => {
    const r = cli(['exec', '--json', ...args, '--', ...command]);
    assert.notEqual(r.stdout, '', `no Result (exit ${r.status}): ${r.stderr}`);
    return JSON.parse(r.stdout) as Result;
  };

  test('scope: doctor says each run gets a systemd scope', () => {
    const r = cli(['doctor', '--json']);
    const checks = (JSON.parse(r.stdout) as { checks: { name: string; status: string; detail: string }[] }).checks;
    const cg = checks.find((c) => c.name === 'cgroups')!;
    assert.equal(cg.status, 'ok', cg.detail);
    assert.match(cg.detail, /driver v2 .*systemd scope of its own/);
  });

  test('scope: a memory bomb is ML, enforced by cgroup v2 in the run\'s scope, which is removed', () => {
    const r = exec(['--memory', '32M'], ['python3', '-c', 'x = bytearray(300 << 20); x[::4096] = b"1" * (len(x) // 4096)']);
    assert.equal(r.status, 'ML', r.message);
    assert.equal(r.limits['memory']!.mechanism, 'cgroup-v2');
    assert.ok(r.cgroups?.some((p) => /\/run-\d+\.scope\/sandbox\//.test(p)), `the run's group is in a scope: ${r.cgroups}`);
    for (const p of r.cgroups!) assert.equal(existsSync(p), false, `${p} removed`);
  });

  test('scope: a CPU limit is TO on the cgroup clock', () => {
    const r = exec(['--cpu-time', '300ms', '--wall-time', '60s'], ['sh', '-c', 'while :; do :; done']);
    assert.equal(r.status, 'TO', r.message);
    assert.equal(r.time.cpuSource, 'cgroup-v2');
  });
}
