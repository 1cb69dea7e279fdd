/**
 * Rootless on a systemd host, for real: the cgroup v2 VM (test/vm/harness.ts) boots the host's own
 * systemd as PID 1, the test user logs in through PAM (`su --login`: pam_systemd, logind, the user's
 * systemd --user and its D-Bus), and `sandbox exec` runs there. The login session's cgroup
 * (user-UID.slice/session-N.scope) is root's, not delegated, so every run's launcher must be started by
 * `systemd-run --user --scope -p Delegate=yes` and its limits set in that scope (test/vm/guest-scope.ts).
 * One boot, about a minute under TCG emulation.
 */
import test, { before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { runInVm, type VmRun } from '../vm/harness.js';

const REPO = join(fileURLToPath(import.meta.url), '../../../..'); // dist/test/limits/x.js → repo root
const USER = 'sbxtest';

let run: VmRun;

before(async () => {
  const id = (flag: string) => Number(execFileSync('id', [flag, USER], { encoding: 'utf8' }).trim());
  run = await runInVm(
    [
      { name: 'pid1', command: 'echo "pid1=$(cat /proc/1/comm)"' },
      {
        name: 'session',
        user: { name: USER, uid: id('-u'), gid: id('-g') },
        login: true,
        env: { SANDBOX_VM_GUEST_SCOPE: '1' },
        command: ['echo "uid=$(id -u) cgroup=$(cat /proc/self/cgroup)"', 'node --test dist/test/vm/guest-scope.js'].join('\n'),
      },
    ],
    { cwd: REPO, pid1: 'systemd', timeoutMs: 540_000 },
  );
});

test(`rootless in a systemd login session: each run gets its own delegated scope from systemd --user (${USER})`, { timeout: 600_000 }, () => {
  const job = run.jobs.find((j) => j.name === 'session')!;
  const why = `\n--- session output ---\n${job.output}\n--- console (tail) ---\n${run.console.slice(-3000)}`;
  assert.match(run.jobs.find((j) => j.name === 'pid1')!.output, /^pid1=systemd$/m, why);
  // a real logind session, which the user does not own: the case that needs the scopes
  assert.match(job.output, /cgroup=0::\/user\.slice\/user-\d+\.slice\/session-[^/]+\.scope$/m, why);
  for (const name of ['doctor says each run gets a systemd scope', 'a memory bomb is ML', 'a CPU limit is TO on the cgroup clock', 'no run leaves its scope behind']) {
    assert.match(job.output, new RegExp(`^ok \\d+ - scope: ${name}`, 'm'), why);
  }
  assert.match(job.output, /^# pass 4$/m, why);
  assert.match(job.output, /^# fail 0$/m, why);
  assert.equal(job.exitCode, 0, why);
});
