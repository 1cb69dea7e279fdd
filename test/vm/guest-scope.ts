/**
 * Rootless on a systemd cgroup v2 host whose login session is not delegated: each run's launcher is
 * started in a delegated scope of its own (systemd-run --user --scope -p Delegate=yes), and the run's
 * limits are enforced and measured there. Runs inside the VM under the host's real systemd
 * (test/limits/systemd-scope-vm.test.ts): an unprivileged user logged in through PAM, so logind put the
 * session in a root-owned session-N.scope and started the user's own systemd --user, which makes the
 * scopes. On the host this module registers no test.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, test } from 'node:test';
import type { Result } from '../../src/launch/result.js';

const REPO = join(fileURLToPath(import.meta.url), '../../../..'); // dist/test/vm → repo
const CLI = join(REPO, 'dist/bin/sandbox.cjs');

if (process.env['SANDBOX_VM_GUEST_SCOPE'] === '1') {
  const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 240_000 });
  const exec = (args: string[], command: string[]): Result => {
    const r = cli(['exec', '--json', ...args, '--', ...command]);
    assert.notEqual(r.stdout, '', `no Result (exit ${r.status}): ${r.stderr}`);
    return JSON.parse(r.stdout) as Result;
  };

  before(async () => {
    // logind starts the user's manager with the session; it may still be coming up
    const runtime = process.env['XDG_RUNTIME_DIR'];
    assert.ok(runtime, 'a login session has XDG_RUNTIME_DIR (pam_systemd)');
    for (let i = 0; i < 300 && !(existsSync(join(runtime, 'bus')) && existsSync(join(runtime, 'systemd/private'))); i++) {
      await new Promise((r) => setTimeout(r, 200));
    }
  });

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
    // systemd-run names its scopes run-r<128-bit hex>.scope, in the user manager's app.slice
    assert.ok(r.cgroups?.some((p) => /\/user@\d+\.service\/app\.slice\/run-r[0-9a-f]+\.scope\/sandbox\//.test(p)), `the run's group is in a scope: ${r.cgroups}`);
    for (const p of r.cgroups!) assert.equal(existsSync(p), false, `${p} removed`);
  });

  test('scope: a CPU limit is TO on the cgroup clock', () => {
    const r = exec(['--cpu-time', '300ms', '--wall-time', '60s'], ['sh', '-c', 'while :; do :; done']);
    assert.equal(r.status, 'TO', r.message);
    assert.equal(r.time.cpuSource, 'cgroup-v2');
  });

  test('scope: no run leaves its scope behind in the user manager', () => {
    const r = spawnSync('systemctl', ['--user', 'list-units', '--all', '--no-legend', '--plain', 'run-r*.scope'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '', 'scopes still known to systemd --user');
  });
}
