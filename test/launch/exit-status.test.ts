/**
 * Exit status conventions (docker/podman) and teardown: the command's code, 128+N for signal N,
 * 125 sandbox failure, 126 cannot execute, 127 not found; SIGTERM/SIGINT to `sandbox` kill the whole
 * sandbox and leave no process and no mount behind.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { commandFor, modes, mountTable, processesMatching, sandboxExec, sleep, markerAssignment, tempDirFor } from '../helpers/cli.js';

function childPid(pid: number): number {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/);
  assert.equal(children.length, 1, `runuser has one child: ${children}`);
  return Number(children[0]);
}

for (const mode of modes()) {
  describe(`exit status (${mode.name})`, () => {
    const run = (cmd: string[], args: string[] = []) => sandboxExec(cmd, args, { user: mode.user });

    test('0 and 7 are passed through', async () => {
      assert.equal((await run(['true'])).code, 0);
      assert.equal((await run(['sh', '-c', 'exit 7'])).code, 7);
    });

    test('killed by signal 9 → 137', async () => {
      const r = await run(['sh', '-c', 'kill -9 $$']);
      assert.equal(r.code, 128 + 9);
    });

    test('command not found → 127 with a message', async () => {
      const r = await run(['no-such-command-xyz']);
      assert.equal(r.code, 127);
      assert.match(r.stderr, /no-such-command-xyz: command not found/);
    });

    test('a script whose interpreter is missing → 127, saying that it is the interpreter', async () => {
      // /usr/bin/env is in the sandbox; a file under the read-only /tmp bind would need a workspace
      const dir = tempDirFor(mode.user, 'sbx-interp-');
      try {
        writeFileSync(join(dir.path, 'script'), '#!/no/such/interpreter\necho hi\n', { mode: 0o755 });
        const r = await run(['/opt/script'], ['--bind', `${dir.path}/script:/opt/script`]);
        assert.equal(r.code, 127);
        assert.match(r.stderr, /\/opt\/script: cannot execute: the file exists, but its interpreter \(the #! line\) or ELF loader does not exist/);
      } finally {
        dir.cleanup();
      }
    });

    test('not executable → 126', async () => {
      const r = await run(['/etc/passwd']);
      assert.equal(r.code, 126);
      assert.match(r.stderr, /cannot execute/);
    });

    test('sandbox failure (missing working directory) → 125', async () => {
      const r = await run(['true'], ['--workdir', '/does/not/exist']);
      assert.equal(r.code, 125);
      assert.match(r.stderr, /working directory \/does\/not\/exist: does not exist/);
    });

    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      test(`${sig} to sandbox kills the whole sandbox (daemons included) and leaves nothing`, async () => {
        const marker = `sbx-${sig.toLowerCase()}-${process.pid}-${mode.name}`;
        const mountsBefore = mountTable();
        // a daemon that ignores SIGTERM and detaches (setsid + background), plus a foreground sleeper;
        // each is a shell whose $0 is "<marker>-daemon"/"<marker>-fg". The marker is assembled inside
        // the sandbox ($M), so only those two shells carry it on their command line.
        const daemon = `setsid sh -c 'trap "" TERM INT HUP; sleep 1000; :' "$M"-daemon &`;
          const script = `${markerAssignment(marker)}; trap "" TERM INT HUP; ${daemon} sh -c 'trap "" TERM INT HUP; sleep 1001; :' "$M"-fg`;
        const [cmd, argv] = commandFor(['exec', '--', 'sh', '-c', script], mode.user);
        const child = spawn(cmd, argv, { stdio: 'ignore' });
        const closed = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
        try {
          for (let i = 0; i < 200 && processesMatching(marker).length < 2; i++) await sleep(50);
          assert.equal(processesMatching(marker).length, 2, 'both sleepers started');
          // signal the CLI itself (under runuser it is runuser's child)
          process.kill(mode.user ? childPid(child.pid!) : child.pid!, sig);
        } catch (e) {
          child.kill('SIGKILL');
          throw e;
        }
        const code = await closed;
        assert.equal(code, 128 + (sig === 'SIGTERM' ? 15 : 2));
        assert.deepEqual(processesMatching(marker), [], 'no process of the sandbox is left');
        assert.equal(mountTable(), mountsBefore, 'the host mount table is unchanged');
      });
    }
  });
}
