/**
 * The Result on the command line: `--json` (only the Result on stdout, the workload's output inside it,
 * lossless), `--result FILE`, and `--meta FILE` in isolate's key:value format; an unwritable report
 * file is an error before anything runs, one that fails to be written is one line and exit 125, and a
 * reader that goes away is not an error; an aborted run's reports agree with the exit status.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, linkSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { commandFor, markerAssignment, modes, processesMatching, sandboxExec, sleep, tempDirFor } from '../helpers/cli.js';

interface Ended { code: number | null; stderr: string }

/** `sandbox exec ARGS` with stdout given as `stdout`: the child, and its end. */
function execTo(args: string[], user: string | null, stdout: 'pipe' | 'ignore' | number): { child: ChildProcess; ended: Promise<Ended> } {
  const [cmd, argv] = commandFor(['exec', ...args], user);
  const child = spawn(cmd, argv, { stdio: ['ignore', stdout, 'pipe'], cwd: tmpdir(), env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' } });
  let stderr = '';
  child.stderr!.on('data', (c) => { stderr += c; });
  const ended = new Promise<Ended>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
  return { child, ended };
}

/** The CLI's own pid: under runuser it is runuser's one child. */
function cliPid(pid: number, user: string | null): number {
  if (!user) return pid;
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/);
  assert.equal(children.length, 1, `runuser has one child: ${children}`);
  return Number(children[0]);
}

const bytes = (n: number, c = 'a') => `head -c ${n} /dev/zero | tr '\\0' '${c}'`;

const metaKeys = (file: string) => Object.fromEntries(readFileSync(file, 'utf8').trim().split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]));

for (const mode of modes()) {
  describe(`result files (${mode.name})`, () => {
    const dir = tempDirFor(mode.user, 'sbx-result-');
    after(() => dir.cleanup());

    test('--json prints only the Result, with the output captured in it', async () => {
      const r = await sandboxExec(['sh', '-c', 'echo out; echo err >&2; exit 3'], ['--json'], { user: mode.user });
      assert.equal(r.code, 3);
      assert.equal(r.stderr, '');
      const result = JSON.parse(r.stdout) as { status: string; stdout: string; stderr: string; workloadExitCode: number; limits: object };
      assert.equal(result.status, 'RE');
      assert.equal(result.stdout, 'out\n');
      assert.equal(result.stderr, 'err\n');
      assert.equal(result.workloadExitCode, 3);
    });

    test('--meta writes isolate\'s keys; --result writes the same Result as --json', async () => {
      const meta = join(dir.path, 'meta.txt');
      const res = join(dir.path, 'result.json');
      const r = await sandboxExec(['sh', '-c', 'kill -TERM $$'], ['--meta', meta, '--result', res], { user: mode.user });
      assert.equal(r.code, 128 + 15);
      const lines = Object.fromEntries(readFileSync(meta, 'utf8').trim().split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]));
      assert.equal(lines['status'], 'SG');
      assert.equal(lines['exitsig'], '15');
      assert.match(lines['time-wall'] ?? '', /^\d+\.\d{3}$/);
      assert.match(lines['time'] ?? '', /^\d+\.\d{3}$/);
      assert.match(lines['message'] ?? '', /signal 15 \(SIGTERM\)/);
      if (!mode.user) assert.match(lines['cg-mem'] ?? '', /^\d+$/, 'as root the cgroup peak is reported');
      const json = JSON.parse(readFileSync(res, 'utf8')) as { status: string; signal: number };
      assert.equal(json.status, 'SG');
      assert.equal(json.signal, 15);
    });

    test('--meta /dev/stdout and --result /dev/stderr go to sandbox\'s own stdout and stderr, after the workload\'s output', async () => {
      const r = await sandboxExec(['sh', '-c', 'echo out; exit 3'], ['--meta', '/dev/stdout', '--result', '/dev/fd/2'], { user: mode.user });
      assert.equal(r.code, 3);
      assert.match(r.stdout, /^out\ntime:/, 'the workload\'s line, then the meta file');
      assert.match(r.stdout, /\nexitcode:3\n(.*\n)*status:RE\n/);
      const result = JSON.parse(r.stderr) as { status: string; workloadExitCode: number };
      assert.equal(result.status, 'RE', 'stderr holds the Result alone');
      assert.equal(result.workloadExitCode, 3);
    });

    test('with --json, a report on stdout is refused before the run; on stderr it is written', async () => {
      chmodSync(dir.path, 0o777); // writable by the workload in both modes, so only the refusal can stop it
      const marker = join(dir.path, 'ran-json');
      const refused = await sandboxExec(['sh', '-c', 'touch /out/ran-json'], ['--bind', `${dir.path}:/out:rw`, '--json', '--meta', '/dev/stdout'], { user: mode.user });
      assert.equal(refused.stderr, 'sandbox: --meta /dev/stdout: with --json, stdout carries the Result alone; give --meta a file, or use --json without it [USAGE]\n');
      assert.equal(refused.code, 125);
      assert.equal(refused.stdout, '');
      assert.equal(existsSync(marker), false, 'the command did not run');
      const r = await sandboxExec(['sh', '-c', 'exit 4'], ['--json', '--meta', '/dev/stderr'], { user: mode.user });
      assert.equal(r.code, 4);
      assert.equal((JSON.parse(r.stdout) as { status: string }).status, 'RE');
      assert.match(r.stderr, /^time:(.*\n)*exitcode:4\n(.*\n)*status:RE\n/);
    });

    test('an unwritable --meta path fails before the command runs', async () => {
      const marker = join(dir.path, 'ran');
      chmodSync(dir.path, 0o777); // writable by the workload in both modes, so only the early failure can stop it
      const ok = await sandboxExec(['sh', '-c', 'touch /out/probe'], ['--bind', `${dir.path}:/out:rw`], { user: mode.user });
      assert.equal(ok.code, 0, `the workload can write there: ${ok.stderr}`);
      const r = await sandboxExec(['sh', '-c', 'touch /out/ran'], ['--bind', `${dir.path}:/out:rw`, '--meta', '/nonexistent/dir/meta'], { user: mode.user });
      assert.equal(r.code, 125);
      assert.match(r.stderr, /--meta \/nonexistent\/dir\/meta: cannot write \(ENOENT\)/);
      assert.equal(existsSync(marker), false, 'the command did not run');
    });

    test('non-UTF-8 output is base64 in the JSON Result, with its encoding named; UTF-8 stays text', async () => {
      const res = join(dir.path, 'bytes.json');
      const r = await sandboxExec(['sh', '-c', "printf '\\377\\376ok'; printf 'h\\303\\251' >&2"], ['--json', '--result', res], { user: mode.user });
      assert.equal(r.code, 0, r.stderr);
      const result = JSON.parse(r.stdout) as Record<string, unknown>;
      assert.equal(result['stdout'], '//5vaw==');
      assert.equal(Buffer.from(result['stdout'] as string, 'base64').equals(Buffer.from([0xff, 0xfe, 0x6f, 0x6b])), true);
      assert.equal(result['stdoutEncoding'], 'base64');
      assert.equal(result['stderr'], 'h\u00e9');
      assert.equal('stderrEncoding' in result, false, 'valid UTF-8 needs no encoding field');
      assert.deepEqual(JSON.parse(readFileSync(res, 'utf8')), result, '--result holds the same Result');
    });

    test('a reader of --json that is gone (EPIPE) is not an error: no message, the run\'s exit status', async () => {
      // the read end is closed before the CLI writes anything: its write of the Result gets EPIPE
      const { child, ended } = execTo(['--json', '--', 'sh', '-c', `${bytes(1_000_000)}; exit 3`], mode.user, 'pipe');
      child.stdout!.destroy();
      const r = await ended;
      assert.equal(r.stderr, '');
      assert.equal(r.code, 3);
    });

    test('--json to a full device: one line naming stdout and the errno, exit 125', async () => {
      const full = openSync('/dev/full', 'w');
      try {
        const r = await execTo(['--json', '--', '/bin/echo', 'hi'], mode.user, full).ended;
        assert.equal(r.stderr, 'sandbox: cannot write the Result to stdout (ENOSPC) [USAGE]\n');
        assert.equal(r.code, 125);
      } finally {
        closeSync(full);
      }
    });

    test('--result and --meta that cannot be written: one line naming each and the errno, exit 125', async () => {
      const r = await sandboxExec(['/bin/true'], ['--result', '/dev/full', '--meta', '/dev/full'], { user: mode.user });
      assert.equal(r.stderr, 'sandbox: --result /dev/full: cannot write (ENOSPC); --meta /dev/full: cannot write (ENOSPC) [USAGE]\n');
      assert.equal(r.code, 125);
    });

    test('--result and --meta naming one file (the same path, or through a hard link) are refused before the run', async () => {
      chmodSync(dir.path, 0o777); // writable by the workload in both modes, so only the refusal can stop it
      const report = join(dir.path, 'both.txt');
      const link = join(dir.path, 'link.txt');
      writeFileSync(report, '');
      chmodSync(report, 0o666);
      linkSync(report, link);
      for (const meta of [report, link]) {
        const r = await sandboxExec(['sh', '-c', 'touch /out/ran'], ['--bind', `${dir.path}:/out:rw`, '--result', report, '--meta', meta], { user: mode.user });
        assert.equal(r.stderr, `sandbox: --result ${report} and --meta ${meta} are the same file: give each report its own file [USAGE]\n`);
        assert.equal(r.code, 125);
        assert.equal(existsSync(join(dir.path, 'ran')), false, 'the command did not run');
      }
    });

    test('a symlink or FIFO a run left in its workspace is never written through by the next run\'s --result/--meta', { timeout: 60_000 }, async () => {
      // run 1, the attacker: plants a symlink to a host file in place of result.json, one to a directory
      // in place of a subdirectory, and a FIFO in place of meta.txt
      const ws = join(dir.path, 'planted');
      mkdirSync(ws);
      chmodSync(ws, 0o777);
      const victim = join(dir.path, 'victim.txt');
      writeFileSync(victim, 'precious\n');
      chmodSync(victim, 0o666); // writable by the CLI's user in both modes: only the refusal protects it
      const plant = `ln -s ${victim} result.json && ln -s ${dir.path} sub && mkfifo meta.txt`;
      const first = await sandboxExec(['sh', '-c', plant], ['--bind', `${ws}:/work:rw`, '--workdir', '/work'], { user: mode.user });
      assert.equal(first.code, 0, first.stderr);
      // run 2, the victim: reports pointed into the workspace; each is refused before anything runs
      const cases: [string[], RegExp][] = [
        [['--result', join(ws, 'result.json')], /: .*result\.json is a symlink, and report files are never written through symlinks/],
        [['--meta', join(ws, 'sub/victim.txt')], /: .*\/sub is a symlink, and report files are never written through symlinks/],
        [['--meta', join(ws, 'meta.txt')], /: is a FIFO; a report is written to a regular file/],
      ];
      for (const [args, message] of cases) {
        const r = await sandboxExec(['sh', '-c', 'touch /work/ran'], ['--bind', `${ws}:/work:rw`, ...args], { user: mode.user, timeoutMs: 30_000 });
        assert.equal(r.signal, null, `${args.join(' ')}: did not hang`);
        assert.equal(r.code, 125, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, message);
        assert.equal(existsSync(join(ws, 'ran')), false, 'the command did not run');
      }
      assert.equal(readFileSync(victim, 'utf8'), 'precious\n', 'the host file is untouched');
      // control: a regular file there is written (and truncated first)
      const real = join(ws, 'real.json');
      writeFileSync(real, 'x'.repeat(100_000));
      chmodSync(real, 0o666);
      const ok = await sandboxExec(['/bin/true'], ['--result', real], { user: mode.user });
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal((JSON.parse(readFileSync(real, 'utf8')) as { status: string }).status, 'OK');
    });

    for (const [what, script, outputBytes] of [
      ['600 MB of text (longer than a string)', bytes(600_000_000), 600_000_000],
      ['90 MB of control bytes (each \\u0001 in JSON: longer than a string)', bytes(90_000_000, '\\001'), 90_000_000],
    ] as const) {
      test(`an output too large for a JSON Result, ${what}: one line, exit 125, and XX reports without the output`, { timeout: 300_000 }, async () => {
        const res = join(dir.path, 'big.json');
        const meta = join(dir.path, 'big.meta');
        const r = await sandboxExec(['sh', '-c', script], ['--json', '--result', res, '--meta', meta], { user: mode.user, timeoutMs: 240_000 });
        const line = `the workload's output is ${outputBytes} bytes (stdout ${outputBytes}, stderr 0), too large for a JSON Result`;
        assert.equal(r.stderr.split('\n').length, 2, `one line: ${r.stderr.slice(0, 500)}`);
        assert.ok(r.stderr.startsWith(`sandbox: ${line}`), r.stderr.slice(0, 500));
        assert.match(r.stderr, /set --output-limit, or drop --json \[USAGE\]\n$/);
        assert.equal(r.code, 125);
        const result = JSON.parse(readFileSync(res, 'utf8')) as Record<string, unknown>;
        assert.deepEqual(JSON.parse(r.stdout), result, 'stdout and --result carry the same Result');
        assert.equal(result['status'], 'XX');
        assert.equal(result['exitCode'], 125);
        assert.deepEqual(result['error'], { code: 'USAGE' });
        assert.equal(result['workloadExitCode'], 0, 'the run\'s own figures are kept');
        assert.equal('stdout' in result, false);
        const keys = metaKeys(meta);
        assert.equal(keys['status'], 'XX');
        assert.equal(keys['exitcode'], '0');
        assert.ok(keys['message']?.startsWith(line), keys['message']);
      });
    }

    for (const [sig, n] of [['SIGTERM', 15], ['SIGINT', 2]] as const) {
      test(`${sig} to sandbox exec: the run is AB/ABORTED, and --result, --meta and the exit status all say 128+${n}`, { timeout: 60_000 }, async () => {
        const marker = `sbx-result-${sig.toLowerCase()}-${process.pid}-${mode.name}`;
        const res = join(dir.path, `${sig}.json`);
        const meta = join(dir.path, `${sig}.meta`);
        const script = `${markerAssignment(marker)}; sh -c 'sleep 1000; :' "$M"-fg`;
        const { child, ended } = execTo(['--result', res, '--meta', meta, '--', 'sh', '-c', script], mode.user, 'ignore');
        try {
          for (let i = 0; i < 200 && processesMatching(marker).length < 1; i++) await sleep(50);
          assert.equal(processesMatching(marker).length, 1, 'the workload is running');
          process.kill(cliPid(child.pid!, mode.user), sig);
        } catch (e) {
          child.kill('SIGKILL');
          throw e;
        }
        const r = await ended;
        assert.equal(r.code, 128 + n);
        assert.equal(r.stderr, `sandbox: aborted: sandbox got ${sig}, so the sandbox was killed\n`);
        const result = JSON.parse(readFileSync(res, 'utf8')) as { status: string; exitCode: number; error: unknown; killReason: string };
        assert.equal(result.status, 'AB');
        assert.equal(result.exitCode, 128 + n);
        assert.deepEqual(result.error, { code: 'ABORTED' });
        assert.equal(result.killReason, 'aborted');
        const keys = metaKeys(meta);
        assert.equal(keys['status'], 'XX', 'isolate has no AB: XX, no verdict');
        assert.equal(keys['sandbox-status'], 'AB');
        assert.equal(keys['killed'], '1');
        assert.equal(keys['message'], `aborted: sandbox got ${sig}, so the sandbox was killed`);
      });
    }
  });
}
