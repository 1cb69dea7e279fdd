/**
 * The library entry point `run()` (dist/src/api.js), as a judge backend calls it: buffered output,
 * stdin from a string, statuses for non-zero exits and failures (never a throw), abort through an
 * AbortSignal leaving nothing behind, and many concurrent runs in one process — each with its own
 * output and, as root, its own host uid. Runs as root (CI does): as root the sandbox must map the
 * workload to a dedicated unprivileged host uid, and that is what these tests check.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { run, type Result } from '../../src/api.js';
import { DEFAULT_UID_RANGE } from '../../src/host/uid-slots.js';
import { mountTable, processesMatching, processesOfUid, sleep } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'sbx-api-'));
after(() => rmSync(dir, { recursive: true, force: true }));

before(() => {
  if (process.geteuid!() !== 0) throw new Error('the run() tests run as root (CI does): run them with sudo');
});

/** The host uid of the workload, from its own /proc/self/uid_map ("1000 <host> 1"). */
function mappedHostUid(uidMap: string): number {
  const fields = uidMap.trim().split(/\s+/).map(Number);
  assert.equal(fields.length, 3, `one mapping line: ${uidMap}`);
  assert.equal(fields[2], 1, 'exactly one id mapped');
  return fields[1]!;
}

function text(b: Buffer | undefined): string {
  assert.ok(Buffer.isBuffer(b), 'buffered output is a Buffer');
  return b.toString('utf8');
}

describe('run(): output, input and statuses', { timeout: 120_000 }, () => {
  test("stdout and stderr 'buffer' capture the workload's output", async () => {
    const r = await run({ policy: 'strict', command: ['sh', '-c', 'echo out; echo err >&2'], stdout: 'buffer', stderr: 'buffer', stdin: 'ignore' });
    assert.equal(r.status, 'OK', r.message);
    assert.equal(r.exitCode, 0);
    assert.equal(r.workloadExitCode, 0);
    assert.equal(text(r.stdout), 'out\n');
    assert.equal(text(r.stderr), 'err\n');
    assert.equal(r.error, null);
    assert.equal(r.policy, 'strict');
  });

  test('stdin as a string reaches the workload', async () => {
    const r = await run({ command: ['tr', 'a-z', 'A-Z'], stdin: 'piped text\nsecond line\n', stdout: 'buffer', stderr: 'buffer' });
    assert.equal(r.status, 'OK', text(r.stderr));
    assert.equal(text(r.stdout), 'PIPED TEXT\nSECOND LINE\n');
  });

  test('stdin as a Buffer, byte for byte', async () => {
    const input = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const r = await run({ command: ['od', '-An', '-v', '-tx1'], stdin: input, stdout: 'buffer' });
    assert.equal(r.status, 'OK', r.message);
    assert.equal(text(r.stdout).replace(/\s+/g, ''), input.toString('hex'));
  });

  test('large buffered output is captured completely', async () => {
    const r = await run({ command: ['sh', '-c', 'head -c 4000000 /dev/zero | tr "\\0" x; echo END'], stdout: 'buffer', stdin: 'ignore' });
    assert.equal(r.status, 'OK', r.message);
    assert.equal(r.stdout!.length, 4_000_000 + 4);
    assert.equal(r.stdout!.subarray(-4).toString(), 'END\n');
  });

  for (const launcher of ['zygote', 'spawn'] as const) {
    test(`captured output has a cap without an output limit: OL at 1 GiB, the supervisor holds no more (${launcher})`, { timeout: 120_000 }, async () => {
      // a workload that floods a captured stdout (no output limit) must not grow this process without
      // bound: the sandbox's memory limit does not cover the supervisor
      const r = await run({ policy: 'strict', memory: '32M', command: ['head', '-c', '1200M', '/dev/zero'], stdout: 'buffer', stderr: 'buffer', launcher });
      assert.equal(r.status, 'OL', r.message);
      assert.match(r.message, /captured output past 1073741824 bytes, the most a run without an output limit may capture; set one/);
      assert.equal(r.stdout!.length, 1 << 30, 'exactly the cap is kept');
      assert.equal(r.outputTruncated, true);
    });
  }

  test('a non-zero exit is status RE with that exit code', async () => {
    const r = await run({ policy: 'strict', command: ['sh', '-c', 'echo before; exit 7'], stdout: 'buffer', stdin: 'ignore' });
    assert.equal(r.status, 'RE');
    assert.equal(r.exitCode, 7);
    assert.equal(r.workloadExitCode, 7);
    assert.equal(r.signal, null);
    assert.equal(r.killed, false);
    assert.match(r.message, /exited with code 7/);
    assert.equal(text(r.stdout), 'before\n');
  });

  test('killed by a signal is status SG with 128+N', async () => {
    const r = await run({ command: ['sh', '-c', 'kill -9 $$'], stdin: 'ignore', stdout: 'ignore' });
    assert.equal(r.status, 'SG');
    assert.equal(r.signal, 9);
    assert.equal(r.exitCode, 137);
  });

  test('a missing command is status XX with exit code 127, and the promise resolves', async () => {
    const r = await run({ policy: 'strict', command: ['no-such-command-xyz'], stdout: 'buffer', stderr: 'buffer', stdin: 'ignore' });
    assert.equal(r.status, 'XX');
    assert.equal(r.exitCode, 127);
    assert.match(r.message, /no-such-command-xyz: command not found/);
    assert.equal(r.error?.code, 'LAUNCH_FAILED');
  });

  test('an unknown policy name is status XX (125), not a throw', async () => {
    const r = await run({ policy: 'no-such-policy', command: ['true'], stdout: 'buffer' });
    assert.equal(r.status, 'XX');
    assert.equal(r.exitCode, 125);
    assert.equal(r.error?.code, 'POLICY_NOT_FOUND');
    assert.match(r.message, /no policy named 'no-such-policy'/);
  });

  test('an invalid policy file is status XX with the schema message, not a throw', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ filesystem: { tmp: { size: '64 MB' } } }));
    const r = await run({ policy: file, command: ['true'] });
    assert.equal(r.status, 'XX');
    assert.equal(r.exitCode, 125);
    assert.equal(r.error?.code, 'POLICY_INVALID');
    assert.match(r.message, /bad\.json: \/filesystem\/tmp\/size: must be/);
  });

  test('a relative policy path and bind source are resolved against opts.cwd', async () => {
    writeFileSync(join(dir, 'named.json'), JSON.stringify({ name: 'named', hostname: 'apitest' }));
    writeFileSync(join(dir, 'input.txt'), 'from the host\n');
    const r = await run({ policy: 'named.json', cwd: dir, bind: ['input.txt:/in.txt'], command: ['sh', '-c', 'hostname; cat /in.txt'], stdout: 'buffer', stdin: 'ignore' });
    assert.equal(r.status, 'OK', r.message);
    assert.equal(text(r.stdout), 'apitest\nfrom the host\n');
    assert.equal(r.policy, 'named');
  });

  test('bad options are status XX (USAGE), not a throw', async () => {
    for (const opts of [{ command: [] }, { command: ['true'], env: ['NOEQUALS'] }, { command: ['true'], bind: ['/nonexistent/x:/x'] }, { command: ['true'], workdir: 'rel' }]) {
      const r = await run({ ...opts, stdin: 'ignore' });
      assert.equal(r.status, 'XX', JSON.stringify(opts));
      assert.equal(r.exitCode, 125, JSON.stringify(opts));
      assert.ok(r.error && ['USAGE', 'BIND_SOURCE'].includes(r.error.code), `${JSON.stringify(opts)}: ${r.error?.code}`);
    }
  });

  test('env: policy env, then the caller\'s, nothing from this process', async () => {
    process.env['SBX_API_LEAK'] = 'leaked';
    try {
      const r = await run({ command: ['sh', '-c', 'echo "$HOME|$EXTRA|${SBX_API_LEAK:-unset}"'], env: { EXTRA: 'x y' }, stdout: 'buffer', stdin: 'ignore' });
      assert.equal(text(r.stdout), '/tmp|x y|unset\n');
    } finally {
      delete process.env['SBX_API_LEAK'];
    }
  });
});

describe('run(): abort', { timeout: 60_000 }, () => {
  async function abortAfterStart(marker: string, abortAt: (ac: AbortController) => Promise<void>): Promise<Result> {
    const ac = new AbortController();
    // a foreground sleeper and a daemon that ignores SIGTERM and detaches; both carry the marker in $0
    const script = 'trap "" TERM INT HUP; setsid sh -c \'trap "" TERM INT HUP; sleep 1000; :\' "$0-daemon" & sleep 1001; :';
    const pending = run({ command: ['sh', '-c', script, marker], stdin: 'ignore', stdout: 'ignore', stderr: 'ignore', signal: ac.signal });
    await abortAt(ac);
    return pending;
  }

  test('aborting a running sandbox ends the run and leaves no process and no mount behind', async () => {
    const marker = `sbx-api-abort-${process.pid}`;
    const mounts = mountTable();
    const r = await abortAfterStart(marker, async (ac) => {
      for (let i = 0; i < 200 && processesMatching(marker).length < 2; i++) await sleep(50);
      assert.equal(processesMatching(marker).length, 2, 'the sleeper and the daemon are running');
      ac.abort();
    });
    assert.equal(r.status, 'AB', 'an abort is not a sandbox failure (XX)');
    assert.deepEqual(r.error, { code: 'ABORTED' });
    assert.equal(r.killed, true);
    assert.equal(r.killReason, 'aborted');
    assert.match(r.message, /aborted/);
    assert.deepEqual(processesMatching(marker), [], 'no process of the sandbox is left');
    assert.deepEqual(processesOfUid(r.hostUid), [], `no process of host uid ${r.hostUid} is left`);
    assert.equal(mountTable(), mounts);
  });

  test('a signal aborted before the call: the run ends without running the workload', async () => {
    const marker = `sbx-api-preabort-${process.pid}`;
    const ac = new AbortController();
    ac.abort();
    const r = await run({ command: ['sh', '-c', 'sleep 1000; :', marker], stdin: 'ignore', stdout: 'ignore', signal: ac.signal });
    assert.equal(r.status, 'AB');
    assert.deepEqual(r.error, { code: 'ABORTED' });
    assert.equal(r.killReason, 'aborted');
    assert.deepEqual(processesMatching(marker), []);
  });
});

describe('run(): concurrency', () => {
  test('8 concurrent runs: each gets its own output and a distinct unprivileged host uid', { timeout: 120_000 }, async () => {
    const N = 8;
    // A barrier in a shared rw bind: every workload checks in, then waits until all N are inside, so
    // the N sandboxes provably run at the same time when their uids are compared.
    const barrier = join(dir, 'barrier');
    mkdirSync(barrier);
    chmodSync(barrier, 0o777); // the workloads are slot uids on the host
    const script = [
      'touch "/sync/$1"',
      'n=0; while [ "$(ls /sync | wc -l)" -lt "$2" ]; do n=$((n+1)); [ $n -gt 1200 ] && { echo barrier-timeout >&2; exit 3; }; sleep 0.05; done',
      'i=0; while [ $i -lt 2000 ]; do echo "run-$1"; i=$((i+1)); done',
      'cat /proc/self/uid_map',
    ].join('\n');
    const results = await Promise.all(Array.from({ length: N }, (_, i) => run({
      policy: i % 2 === 0 ? 'strict' : 'default',
      command: ['sh', '-c', script, 'sh', String(i), String(N)],
      bind: [`${barrier}:/sync:rw`],
      stdout: 'buffer',
      stderr: 'buffer',
      stdin: 'ignore',
    })));
    const hostUids = results.map((r, i) => {
      assert.equal(r.status, 'OK', `run ${i}: ${r.message} ${text(r.stderr)}`);
      const lines = text(r.stdout).trim().split('\n');
      const mapLine = lines.pop()!;
      assert.equal(lines.length, 2000, `run ${i}: all of its lines`);
      assert.ok(lines.every((l) => l === `run-${i}`), `run ${i}: only its own output`);
      const uid = mappedHostUid(mapLine);
      assert.equal(uid, r.hostUid, `run ${i}: Result.hostUid is the mapped uid`);
      assert.notEqual(uid, 0);
      assert.ok(uid >= DEFAULT_UID_RANGE.start && uid < DEFAULT_UID_RANGE.start + DEFAULT_UID_RANGE.count, `run ${i}: ${uid} in the sandbox range`);
      return uid;
    });
    assert.equal(new Set(hostUids).size, N, `distinct host uids: ${hostUids}`);
    for (const u of hostUids) assert.deepEqual(processesOfUid(u), [], `nothing of uid ${u} left`);
  });

  test('a uid slot is held while its run lasts and released after it', { timeout: 60_000 }, async () => {
    // a one-uid range of its own, away from the default range, so no other run can hold it
    const uid = 0x60000000 + (process.pid % 65536);
    const uidRange = `${uid}:1`;
    const marker = `sbx-api-slot-${process.pid}`;
    const first = run({ uidRange, command: ['sh', '-c', 'sleep 2; :', marker], stdin: 'ignore', stdout: 'ignore' });
    for (let i = 0; i < 200 && processesMatching(marker).length < 1; i++) await sleep(25);
    assert.equal(processesMatching(marker).length, 1, 'the first run is running');
    const second = await run({ uidRange, command: ['true'], stdin: 'ignore' });
    assert.equal(second.status, 'XX', 'the only uid of the range is taken');
    assert.equal(second.error?.code, 'HOST_UNSUPPORTED');
    assert.match(second.message, /all 1 host uids of the sandbox range .* are in use/);
    const r1 = await first;
    assert.equal(r1.status, 'OK', r1.message);
    assert.equal(r1.hostUid, uid);
    const third = await run({ uidRange, command: ['cat', '/proc/self/uid_map'], stdin: 'ignore', stdout: 'buffer' });
    assert.equal(third.status, 'OK', third.message);
    assert.equal(mappedHostUid(text(third.stdout)), uid, 'the slot was released by the first run');
  });
});
