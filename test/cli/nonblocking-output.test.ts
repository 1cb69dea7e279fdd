/**
 * A `sandbox exec` whose stdout is a non-blocking pipe to a slow reader. O_NONBLOCK belongs to the open
 * file, so the sandbox gets it from whoever made the pipe: here a Python wrapper (as a judge written in
 * Python with non-blocking pipes would) sets it and execs the CLI. The launcher relays the output (an
 * output limit asks for that) and must wait for the reader: it once retried at once on EAGAIN, a busy
 * loop charged to the run's CPU time — 1 s of CPU limit ran out while the reader slept, the run was a
 * TO and most of the output was lost.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { commandFor, modes, tempDirFor } from '../helpers/cli.js';

const BYTES = 5_000_000;

for (const mode of modes()) {
  describe(`a non-blocking stdout (${mode.name})`, () => {
    const dir = tempDirFor(mode.user, 'sbx-nonblock-');
    after(() => dir.cleanup());

    test('all of the output arrives, and the reader\'s pause is not the workload\'s CPU time', async () => {
      const result = join(dir.path, 'result.json');
      const [cmd, args] = commandFor(['exec', '--cpu-time', '1s', '--output-limit', '100M', '--result', result, '--',
        'sh', '-c', `head -c ${BYTES} /dev/zero`], mode.user);
      const wrapper = 'import fcntl, os, sys; fcntl.fcntl(1, fcntl.F_SETFL, fcntl.fcntl(1, fcntl.F_GETFL) | os.O_NONBLOCK); os.execvp(sys.argv[1], sys.argv[1:])';
      const pipeline = `python3 -c ${JSON.stringify(wrapper)} ${[cmd, ...args].map((a) => JSON.stringify(a)).join(' ')} | (sleep 2; wc -c)`;
      const out = await new Promise<string>((resolve, reject) => {
        const sh = spawn('sh', ['-c', pipeline], { stdio: ['ignore', 'pipe', 'inherit'] });
        let text = '';
        sh.stdout.on('data', (c) => { text += c; });
        sh.on('error', reject);
        sh.on('close', () => resolve(text));
      });
      assert.equal(out.trim(), String(BYTES), 'every byte reached the reader');
      const r = JSON.parse(readFileSync(result, 'utf8'));
      assert.equal(r.status, 'OK', `${r.status}: ${r.message}`);
    });
  });
}
