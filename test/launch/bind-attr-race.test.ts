/**
 * The attack: a read-only bind nested in a writable one (`--bind W:/w:rw --tmpfs /w/t --bind X:/w/ro`)
 * while someone who can rename entries of W (a concurrent sandbox sharing the workspace) swaps two of
 * its names during the launcher's setup. The launcher once mounted X first and then set ro/nosuid/nodev
 * by looking /w/ro up again: after a swap that lookup found the tmpfs, the attributes went there, and X
 * stayed writable (found by an audit: 3 runs in 60 wrote to X; mount setup's timing is all it took).
 * Now a bind's attributes are set on the detached copy before it is attached (native/filesystem.c).
 *
 * To make the race certain rather than likely, strace delays the exit of every mount syscall of the
 * run by 150 ms, and the attacker swaps `ro` and `t` as soon as the launcher creates `ro`. Then,
 * wherever X appears inside, it must be read-only, nosuid and nodev, and X must be unchanged on the
 * host. X is writable by everyone (0777), so only the mount's ro stands in the way.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CLI, modes, tempDirFor, userIds } from '../helpers/cli.js';

const DELAY_US = 150_000;

/** `sandbox exec` under strace, each mount syscall's return delayed; resolves with its output. */
function execDelayed(user: string | null, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const strace = ['strace', '-f', '-qq', '-o', '/dev/null', '-e', 'trace=mount,mount_setattr,move_mount,open_tree',
    '-e', `inject=mount,mount_setattr,move_mount:delay_exit=${DELAY_US}`, process.execPath, CLI, 'exec', ...args];
  const [cmd, argv] = user ? ['runuser', ['-u', user, '--', ...strace]] : [strace[0]!, strace.slice(1)];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Swaps W/ro and W/t the moment the launcher has created W/ro (as root: it may rename anything). */
function attacker(w: string): { done: Promise<string> } {
  const script = `while [ ! -d ro ]; do :; done; mv ro ro2 && mv t ro && echo swapped`;
  const child = spawn('sh', ['-c', script], { cwd: w, stdio: ['ignore', 'pipe', 'pipe'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  return { done: new Promise((resolve) => child.on('close', () => { clearTimeout(timer); resolve(out.trim()); })) };
}

for (const mode of modes()) {
  describe(`a read-only bind nested in a writable one, names swapped during setup (${mode.name})`, () => {
    const dir = tempDirFor(mode.user, 'sbx-bindrace-');
    after(() => dir.cleanup());

    test('the bind keeps ro, nosuid and nodev wherever it lands; the host directory is not written', async () => {
      const w = join(dir.path, 'w');
      const x = join(dir.path, 'x');
      mkdirSync(w);
      mkdirSync(x);
      mkdirSync(join(w, 't'));
      writeFileSync(join(x, 'victim.txt'), 'original\n');
      chmodSync(x, 0o777);
      chmodSync(join(x, 'victim.txt'), 0o666);
      if (mode.user) {
        const { uid, gid } = userIds(mode.user);
        for (const p of [w, join(w, 't')]) chownSync(p, uid, gid);
      }
      const attack = attacker(w);
      const r = await execDelayed(mode.user, [
        '--policy', 'strict', '--bind', `${w}:/w:rw`, '--tmpfs', '/w/t', '--bind', `${x}:/w/ro`, '--',
        '/bin/sh', '-c', 'grep " /w/" /proc/self/mountinfo; for d in /w/ro /w/ro2 /w/t; do echo written > $d/victim.txt 2>/dev/null && echo "wrote $d"; done; exit 0',
      ]);
      const swapped = await attack.done;
      const why = `\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}\nattacker: ${swapped}`;
      // the attack happened while the launcher set up: otherwise this test proves nothing
      assert.equal(swapped, 'swapped', why);
      assert.ok(existsSync(join(w, 'ro2')), why);
      assert.equal(r.code, 0, why);
      assert.deepEqual(readdirSync(x), ['victim.txt'], why);
      assert.equal(readFileSync(join(x, 'victim.txt'), 'utf8'), 'original\n', `the host directory was written through the bind${why}`);
      // X is mounted somewhere under /w, read-only, nosuid and nodev
      const xLine = r.stdout.split('\n').find((l) => l.split(' ')[3] === x);
      assert.ok(xLine, `X's mount is in the sandbox's mountinfo${why}`);
      const options = xLine.split(' ')[5]!.split(',');
      for (const o of ['ro', 'nosuid', 'nodev']) assert.ok(options.includes(o), `${o} on X's mount: ${xLine}${why}`);
    });
  });
}
