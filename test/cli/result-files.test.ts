/**
 * The Result on the command line: `--json` (only the Result on stdout, the workload's output inside it),
 * `--result FILE`, and `--meta FILE` in isolate's key:value format; an unwritable report file is an
 * error before anything runs.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { modes, sandboxExec, tempDirFor } from '../helpers/cli.js';

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
  });
}
