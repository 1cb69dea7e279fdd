/**
 * The CLI's stdio when the supervisor must see the bytes (an output limit, or --json capturing them):
 * the launcher makes the workload's stdout/stderr real pipes and relays them (native/relay.c), so the
 * workload sees pipes — `/dev/stdout` and `/dev/stderr` open as in a shell pipeline, as root too — and
 * the bytes arrive whole, in order per stream, and cut at the limit — by the launcher, which relays
 * the CLI's own stdout and stderr itself (Node never sees those bytes). As root and rootless.
 */
const bytes = (n: number, c: string) => `head -c ${n} /dev/zero | tr '\\0' ${c}`;
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { commandFor, modes, sandboxExec } from '../helpers/cli.js';

for (const mode of modes()) {
  describe(`stdio through the launcher's relay (${mode.name})`, { timeout: 120_000 }, () => {
    test('the workload writes to pipes; /dev/stdout and /dev/stderr open; both streams arrive', async () => {
      const script = 'for fd in 1 2; do readlink /proc/self/fd/$fd | cut -d: -f1; done; echo via-dev-stdout > /dev/stdout; echo via-dev-stderr > /dev/stderr';
      const r = await sandboxExec(['sh', '-c', script], ['--policy', 'strict', '--output-limit', '1M'], { user: mode.user });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'pipe\npipe\nvia-dev-stdout\n');
      assert.equal(r.stderr, 'via-dev-stderr\n');
    });

    test('a large output arrives byte for byte, and --json captures it whole', async () => {
      const script = 'i=0; while [ $i -lt 20000 ]; do echo "line $i"; i=$((i+1)); done';
      const expected = Array.from({ length: 20000 }, (_, i) => `line ${i}\n`).join('');
      const plain = await sandboxExec(['sh', '-c', script], ['--policy', 'strict', '--output-limit', '16M'], { user: mode.user });
      assert.equal(plain.code, 0, plain.stderr);
      assert.equal(plain.stdout, expected);
      const json = await sandboxExec(['sh', '-c', script], ['--policy', 'strict', '--json'], { user: mode.user });
      assert.equal(json.code, 0, json.stderr);
      const result = JSON.parse(json.stdout) as { status: string; stdout: string };
      assert.equal(result.status, 'OK');
      assert.equal(result.stdout, expected);
    });

    test('past the output limit the run is OL and nothing beyond the limit is passed on', async () => {
      const r = await sandboxExec(['sh', '-c', 'yes flood'], ['--policy', 'strict', '--output-limit', '4K'], { user: mode.user });
      assert.equal(r.stdout.length, 4096);
      assert.match(r.stderr, /output limit exceeded \(4096 bytes\)/);
      assert.notEqual(r.code, 0);
    });

    test('the limit is exact, and stdout and stderr count together', async () => {
      const args = ['--policy', 'strict', '--output-limit', '4K'];
      const at = await sandboxExec(['sh', '-c', `${bytes(2048, 'a')}; ${bytes(2048, 'b')} >&2`], args, { user: mode.user });
      assert.equal(at.code, 0, at.stderr);
      assert.equal(at.stdout, 'a'.repeat(2048));
      assert.equal(at.stderr, 'b'.repeat(2048));
      const over = await sandboxExec(['sh', '-c', `${bytes(2048, 'a')}; ${bytes(2049, 'b')} >&2`], args, { user: mode.user });
      assert.equal(over.code, 128 + 9, over.stderr);
      assert.equal(over.stdout, 'a'.repeat(2048));
      assert.equal(over.stderr, `${'b'.repeat(2048)}sandbox: output limit exceeded (4096 bytes)\n`);
    });

    test('to a file opened for appending (which splice cannot write): copied, and cut at the limit', () => {
      const file = join(tmpdir(), `sbx-stdio-${process.pid}-${mode.name}`);
      const out = openSync(file, 'a');
      try {
        const [cmd, argv] = commandFor(['exec', '--policy', 'strict', '--output-limit', '4K', '--', 'sh', '-c', 'yes flood'], mode.user);
        const r = spawnSync(cmd, argv, { stdio: ['ignore', out, 'pipe'], encoding: 'utf8', cwd: tmpdir(), timeout: 60_000 });
        assert.match(r.stderr, /output limit exceeded \(4096 bytes\)/);
        assert.equal(r.status, 128 + 9);
        assert.equal(readFileSync(file, 'utf8'), 'flood\n'.repeat(1000).slice(0, 4096));
      } finally {
        closeSync(out);
        rmSync(file, { force: true });
      }
    });
  });
}
