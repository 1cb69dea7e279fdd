/**
 * run() starts its launchers through one zygote per process (src/launch/zygote.ts): it is this
 * process's child, it does not keep the process alive, a SIGKILL of the process takes it and every
 * sandbox down, a zygote killed by someone else fails only the runs in flight, and it works rootless.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { run } from '../../src/api.js';
import { mountTable, processesMatching, ROOT, sleep, TEST_USER, tempDirFor, userIds } from '../helpers/cli.js';

const API = join(ROOT, 'dist/src/api.js');

/** The zygote processes of supervisor `pid`: its children whose command line names that pid. */
function zygotesOf(pid: number): string[] {
  const ps = spawnSync('ps', ['-e', '-o', 'pid=,ppid=,args='], { encoding: 'utf8' }).stdout.split('\n');
  return ps.filter((l) => {
    const [, ppid] = l.trim().split(/\s+/);
    return Number(ppid) === pid && l.includes(`sandbox-launcher --zygote --parent-pid ${pid}`);
  });
}

async function until(what: string, done: () => boolean, ms = 10_000): Promise<void> {
  for (let waited = 0; !done(); waited += 50) {
    if (waited >= ms) assert.fail(`still not true after ${ms} ms: ${what}`);
    await sleep(50);
  }
}

const scripts = tempDirFor(TEST_USER, 'sbx-zygote-');
after(() => scripts.cleanup());

/** A Node script (ESM) that uses the library, readable by the test user. */
function script(name: string, body: string): string {
  const path = join(scripts.path, name);
  writeFileSync(path, `import { run } from ${JSON.stringify(API)};\n${body}\n`, { mode: 0o644 });
  return path;
}

describe('run() through the zygote', { timeout: 120_000 }, () => {
  test('one zygote per process, a child of it, used by every run', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await run({ policy: 'strict', command: ['true'], stdin: 'ignore', stdout: 'ignore' });
      assert.equal(r.status, 'OK', r.message);
    }
    const found = zygotesOf(process.pid);
    assert.equal(found.length, 1, found.join('\n'));
    const pid = Number(found[0]!.trim().split(/\s+/)[0]);
    const ppid = Number(spawnSync('ps', ['-o', 'ppid=', '-p', String(pid)], { encoding: 'utf8' }).stdout.trim());
    assert.equal(ppid, process.pid);
    // a clean start: it pins no directory, holds only its socket, event pipe and /dev/null, has no environment
    assert.equal(readlinkSync(`/proc/${pid}/cwd`), '/');
    assert.equal(readFileSync(`/proc/${pid}/environ`, 'utf8'), '');
    const fds = readdirSync(`/proc/${pid}/fd`).map(Number).sort((a, b) => a - b);
    assert.deepEqual(fds.slice(0, 3), [0, 1, 2]);
    assert.match(readlinkSync(`/proc/${pid}/fd/0`), /^socket:/);
    assert.match(readlinkSync(`/proc/${pid}/fd/1`), /^pipe:/);
    assert.equal(readlinkSync(`/proc/${pid}/fd/2`), '/dev/null');
  });

  test("launcher 'spawn' runs without the zygote", async () => {
    const r = await run({ policy: 'strict', command: ['sh', '-c', 'echo spawned'], stdout: 'buffer', launcher: 'spawn' });
    assert.equal(r.status, 'OK', r.message);
    assert.equal(r.stdout?.toString(), 'spawned\n');
  });

  test('a process that used run() exits by itself when its work is done', async () => {
    const path = script('exits.mjs', "const r = await run({ command: ['echo', 'done'], stdout: 'buffer' }); console.log(r.status, r.stdout.toString().trim());");
    const r = spawnSync(process.execPath, [path], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.signal, null, 'the process ended by itself');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'OK done\n');
  });

  test('SIGKILL of the process mid-run takes the zygote and the whole sandbox with it', async () => {
    const marker = `sbx-zygote-kill-${process.pid}`;
    const mounts = mountTable();
    const path = script('killed.mjs', `await run({ command: ['sh', '-c', 'sleep 1000; :', ${JSON.stringify(marker)}], stdin: 'ignore' });`);
    const child = spawn(process.execPath, [path], { stdio: 'ignore' });
    let zygote = 0;
    try {
      await until('the workload runs', () => processesMatching(marker).length > 0);
      const found = zygotesOf(child.pid!);
      assert.equal(found.length, 1, 'the script runs through its zygote');
      zygote = Number(found[0]!.trim().split(/\s+/)[0]);
    } finally {
      child.kill('SIGKILL');
    }
    await until('the sandbox is gone', () => processesMatching(marker).length === 0);
    await until('the zygote is gone', () => zygotesOf(child.pid!).length === 0);
    await until('every process the zygote forked is gone', () => processesMatching(`of zygote ${zygote})`).length === 0);
    assert.equal(mountTable(), mounts);
  });

  test('a zygote killed mid-run fails that run only; the next run starts a new zygote', async () => {
    const marker = `sbx-zygote-lost-${process.pid}`;
    const pending = run({ command: ['sh', '-c', 'sleep 1000; :', marker], stdin: 'ignore' });
    await until('the workload runs', () => processesMatching(marker).length > 0);
    const [line] = zygotesOf(process.pid);
    assert.ok(line, 'a zygote runs');
    process.kill(Number(line.trim().split(/\s+/)[0]), 'SIGKILL');
    const r = await pending;
    assert.equal(r.status, 'XX');
    assert.match(r.message, /SIGKILL/);
    await until('the sandbox is gone', () => processesMatching(marker).length === 0);
    const next = await run({ command: ['echo', 'again'], stdout: 'buffer' });
    assert.equal(next.status, 'OK', next.message);
    assert.equal(next.stdout?.toString(), 'again\n');
  });

  test('a zygote that died between runs: the next run is taken by a new one', async () => {
    assert.equal((await run({ command: ['true'], stdin: 'ignore' })).status, 'OK');
    const [line] = zygotesOf(process.pid);
    assert.ok(line, 'a zygote runs');
    const pid = Number(line.trim().split(/\s+/)[0]);
    process.kill(pid, 'SIGKILL');
    // wait without yielding to the event loop, so this process has not yet heard of its exit
    const dead = () => { try { return readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] === 'Z'; } catch { return true; } };
    for (const start = Date.now(); !dead() && Date.now() - start < 5000;) { /* spin */ }
    const r = await run({ command: ['echo', 'again'], stdout: 'buffer' });
    assert.equal(r.status, 'OK', r.message);
    assert.equal(r.stdout?.toString(), 'again\n');
  });

  test('rootless: an unprivileged process runs sandboxes through its zygote', () => {
    const { uid } = userIds(TEST_USER);
    const path = script('rootless.mjs', [
      "for (let i = 0; i < 2; i++) {",
      "  const r = await run({ policy: 'strict', command: ['cat', '/proc/self/uid_map'], stdout: 'buffer' });",
      "  console.log(r.status, r.stdout.toString().trim().split(/\\s+/).join(' '));",
      "}",
      "const { execSync } = await import('node:child_process');",
      "console.log(execSync('ps -e -o args=').toString().includes(`sandbox-launcher --zygote --parent-pid ${process.pid}`) ? 'zygote' : 'no zygote');",
    ].join('\n'));
    const r = spawnSync('runuser', ['-u', TEST_USER, '--', process.execPath, path], { encoding: 'utf8', timeout: 60_000, cwd: scripts.path });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), [`OK 1000 ${uid} 1`, `OK 1000 ${uid} 1`, 'zygote']);
  });
});
