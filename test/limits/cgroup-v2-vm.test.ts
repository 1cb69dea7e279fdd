/**
 * cgroup v2 for real. The host is hybrid (v1 controllers), so the v2 driver is tested inside a VM running
 * Debian's 6.1 kernel with a pure cgroup2 hierarchy (test/vm/harness.ts): the same driver and stale-cleanup tests
 * as on the host, once as root and once as an unprivileged user in a delegated subtree. One boot runs both
 * (about 1.5 minutes under TCG emulation). The prepared init (test/api/prepared-init.test.ts) runs there too:
 * on v2 its move into the run's cgroup is a write the kernel checks against the delegation (rootless, the
 * common ancestor of the zygote's cgroup and the run's must be the user's), which v1 never exercises.
 */
import test, { before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { runInVm, type VmRun, type VmJobResult } from '../vm/harness.js';

const REPO = join(fileURLToPath(import.meta.url), '../../../..'); // dist/test/limits/x.js → repo root
const FILES = ['dist/test/limits/cgroup-driver.test.js', 'dist/test/limits/cgroup-stale.test.js', 'dist/test/vm/guest-exec-v2.js'].join(' ');
const USER = 'sbxtest';
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const PREPARED = 'dist/test/api/prepared-init.test.js';
/** The prepared-init tests that hold rootless (the others mount on the host or switch users: root's). */
const PREPARED_ROOTLESS = ["a run gets its spare's new namespaces", 'init, its network and its identity are as with a clone', "the workload is in the run's cgroup"];
/** As root, all but the idmapped binds: the VM's 6.1 kernel cannot idmap its /tmp (tmpfs gained that
 * in 6.3), and the run says so (`bind /ws0: ... cannot be idmapped`); the host's kernel runs that one. */
const PREPARED_ROOT = [...PREPARED_ROOTLESS, 'a mount made on the host after the spare was prepared', "as root: the supervisor's supplementary groups", "a process's unused spare"];
/** Runs the prepared-init tests named, after a marker line, so that their own summary can be checked. */
const preparedTests = (names: string[]) => [
  'echo "--- prepared init"',
  `node --test --test-name-pattern=${JSON.stringify(names.map(escape).join('|'))} ${PREPARED} || rc=1`,
];

/** The prepared-init run of a job (after preparedTests' marker): each named test passed, nothing failed, no group left. */
function assertPreparedGreen(job: VmJobResult, names: string[]) {
  const [, prepared = ''] = job.output.split(/^--- prepared init$/m);
  const why = `\n--- prepared init output (${job.name}) ---\n${prepared}`;
  for (const name of names) assert.match(prepared, new RegExp(`^ {4}ok \\d+ - ${escape(name)}[^#\\n]*$`, 'm'), why);
  assert.match(prepared, new RegExp(`^# pass ${names.length}$`, 'm'), why);
  assert.match(prepared, /^# fail 0$/m, why);
  assert.match(prepared, /^leftovers after prepared=\[\]$/m, `run groups left behind${why}`);
}

function hostUser(name: string) {
  const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
  return { name, uid: id('-u'), gid: id('-g') };
}

let run: VmRun;

before(async () => {
  const user = hostUser(USER);
  run = await runInVm(
    [
      {
        name: 'root',
        env: { SANDBOX_TEST_CGROUP_DRIVER: 'v2', SANDBOX_VM_GUEST: '1', SANDBOX_REQUIRE_IA32: '1' },
        command: [
          'echo "fs=$(stat -fc %T /sys/fs/cgroup) uid=$(id -u)"',
          // the seccomp kernel tests too: this kernel has IA32 emulation and the x32 ABI, the host does not
          `node --test ${FILES} dist/test/seccomp/kernel-policy.test.js; rc=$?`,
          'echo "leftovers=[$(cd /sys/fs/cgroup/sandbox && ls -d */ 2>/dev/null)]"',
          ...preparedTests(PREPARED_ROOT),
          'echo "leftovers after prepared=[$(cd /sys/fs/cgroup/sandbox && ls -d */ 2>/dev/null)]"',
          'exit $rc',
        ].join('\n'),
      },
      {
        name: USER,
        user,
        env: { SANDBOX_TEST_CGROUP_DRIVER: 'v2', SANDBOX_TEST_CGROUP_DELEGATED: '1', SANDBOX_VM_GUEST: '1' },
        command: [
          'echo "fs=$(stat -fc %T /sys/fs/cgroup) uid=$(id -u) cgroup=$(cat /proc/self/cgroup)"',
          `node --test ${FILES}; rc=$?`,
          'D=$(dirname "/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)")', // we were evacuated into D/sandbox-supervisor
          'echo "leftovers=[$(cd "$D/sandbox" && ls -d */ 2>/dev/null)]"',
          ...preparedTests(PREPARED_ROOTLESS),
          'echo "leftovers after prepared=[$(cd "$D/sandbox" && ls -d */ 2>/dev/null)]"',
          'exit $rc',
        ].join('\n'),
      },
    ],
    { cwd: REPO, timeoutMs: 540_000 },
  );
});

/** The node test runner's summary must show a real, complete, green run of the v2 branch. */
function assertGreen(job: VmJobResult) {
  const why = `\n--- ${job.name} output ---\n${job.output}\n--- console (tail) ---\n${run.console.slice(-3000)}`;
  assert.notEqual(job.exitCode, null, `the job did not finish (VM timed out: ${run.timedOut})${why}`);
  const num = (k: string) => Number(new RegExp(`^# ${k} (\\d+)$`, 'm').exec(job.output)?.[1] ?? NaN);
  assert.equal(num('fail'), 0, why);
  assert.ok(num('pass') > 0 && num('pass') === num('tests'), why);
  assert.match(job.output, /^ok \d+ - probe selects the v2 driver/m, why);
  assert.match(job.output, /^ok \d+ - killAll kills a setsid double-forked daemon/m, why);
  assert.match(job.output, /^ok \d+ - a SIGKILLed supervisor's group is found/m, why);
  // sandbox exec end to end on v2 (test/vm/guest-exec-v2.ts)
  for (const name of ['a memory bomb is ML', 'an infinite loop under a CPU limit is TO', 'a fork bomb is held at pids.max', 'CPU bandwidth is enforced by cpu.max']) {
    assert.match(job.output, new RegExp(`^ok \\d+ - v2 exec: ${name}`, 'm'), why);
  }
  // the library on v2: zygote, CPU-time stop of init only, spare group removed at exit
  assert.match(job.output, /^ok \d+ - v2 library: zygote runs, a CPU-time kill leaves no process, the spare group goes at exit/m, why);
  assert.match(job.output, /^leftovers=\[\]$/m, `run groups left behind${why}`);
  assert.equal(job.exitCode, 0, why);
}

test('cgroup v2 driver inside the VM, as root', { timeout: 600_000 }, () => {
  const job = run.jobs.find((j) => j.name === 'root')!;
  assert.match(job.output, /^fs=cgroup2fs uid=0$/m, job.output);
  assertGreen(job);
  assertPreparedGreen(job, PREPARED_ROOT);
  // seccomp on a kernel with the compat ABIs: int $0x80 and x32 numbers are stopped for real
  assert.match(job.output, /^ok \d+ - kernel: i386 `int \$0x80` never reaches a syscall under the filter/m, job.output);
  assert.match(job.output, /^ok \d+ - kernel: x32 syscall numbers are killed/m, job.output);
});

test(`cgroup v2 driver inside the VM, as ${USER} in a delegated subtree`, { timeout: 600_000 }, () => {
  const job = run.jobs.find((j) => j.name === USER)!;
  const uid = hostUser(USER).uid;
  assert.match(job.output, new RegExp(`^fs=cgroup2fs uid=${uid} cgroup=0::/sbxvm-deleg-\\d+$`, 'm'), job.output);
  assertGreen(job);
  assertPreparedGreen(job, PREPARED_ROOTLESS);
});
