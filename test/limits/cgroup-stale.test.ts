/**
 * Leftovers of a SIGKILLed supervisor: a real supervisor process (a child node) creates a group and starts a
 * daemon in it, is SIGKILLed, and cleanStaleCgroups must kill the daemon and remove the group — while keeping a
 * live supervisor's group, a group whose owner pid was reused, and directories that are not ours.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { cleanStaleCgroups, createRunCgroup, probeCgroups } from '../../src/host/cgroup/index.js';
import { alive, expectedDriver, until } from './cgroup-helpers.js';

const T = { timeout: 180_000 };
const INDEX = pathToFileURL(join(fileURLToPath(import.meta.url), '../../../src/host/cgroup/index.js')).href;
/** Only this file's runs are swept, so concurrent test files (and their live or dying runs) are not disturbed. */
const PREFIX = `st${process.pid}x`;

/**
 * A supervisor in a child process: creates a group, starts a daemon in it (detached: its own session, so it
 * outlives the supervisor), reports, then waits forever. Not setsid(1): it forks when already a group leader.
 */
const SUPERVISOR = `
const m = await import(process.env.SBX_INDEX);
const { spawn } = await import('node:child_process');
const { readFileSync } = await import('node:fs');
const cg = await m.createRunCgroup(process.env.SBX_RUN, { pids: 16 });
const d = spawn('/bin/sh', ['-c', 'for f in $SBX_PROCS; do echo $$ > "$f" || exit 97; done; exec sleep 600'],
  { env: { ...process.env, SBX_PROCS: cg.procsFiles.join(' ') }, stdio: 'ignore', detached: true });
d.unref();
while (!readFileSync(cg.procsFiles[0], 'utf8').split('\\n').includes(String(d.pid))) await new Promise((r) => setTimeout(r, 5));
process.stdout.write(JSON.stringify({ paths: cg.paths, daemon: d.pid }) + '\\n');
setInterval(() => {}, 1000);
`;

function startSupervisor(run: string): Promise<{ kill: () => Promise<void>; paths: string[]; daemon: number }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', SUPERVISOR], {
    env: { ...process.env, SBX_INDEX: INDEX, SBX_RUN: run },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        const info = JSON.parse(buf.slice(0, nl)) as { paths: string[]; daemon: number };
        resolve({ ...info, kill: async () => { child.kill('SIGKILL'); await exited; } });
      }
    });
    child.on('exit', (code, sig) => reject(new Error(`supervisor exited early: ${code ?? sig}`)));
  });
}

if (expectedDriver() === 'none') {
  test('without a usable driver there is nothing to clean, and no error', T, async () => {
    assert.deepEqual(await cleanStaleCgroups({ runIdPrefix: PREFIX }), []);
  });
} else {
  test('a SIGKILLed supervisor\'s group is found, its daemon killed, the group removed; live ones are kept', T, async () => {
    const dead = await startSupervisor(`${PREFIX}dead`);
    await dead.kill();
    assert.ok(alive(dead.daemon), 'the daemon should outlive its supervisor');
    assert.ok(dead.paths.every((p) => existsSync(p)));

    const live = await createRunCgroup(`${PREFIX}live`, { pids: 8 });
    const root = (await probeCgroups()).root!;
    const reused = join(root, `${PREFIX}reuse.${process.pid}.1`); // our pid, but not our start time: pid reuse
    const foreign = join(root, `${PREFIX}-not-ours`);
    mkdirSync(reused);
    mkdirSync(foreign);
    try {
      const removed = await cleanStaleCgroups({ runIdPrefix: PREFIX });
      assert.deepEqual([...removed].sort(), [...dead.paths, reused].sort());
      assert.ok(dead.paths.every((p) => !existsSync(p)), 'stale leaves remain');
      assert.ok(!existsSync(reused));
      await until(() => !alive(dead.daemon), 'the stale daemon to die', 5000);
      assert.ok(live.paths.every((p) => existsSync(p)), 'a live run was removed');
      assert.ok(existsSync(foreign), 'a directory that is not ours was removed');
      assert.deepEqual(await cleanStaleCgroups({ runIdPrefix: PREFIX }), []); // nothing left the second time
    } finally {
      await live.remove();
      if (existsSync(foreign)) rmdirSync(foreign);
      if (existsSync(reused)) rmdirSync(reused);
    }
  });
}
