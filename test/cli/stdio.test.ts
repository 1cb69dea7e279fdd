/**
 * The CLI's stdio when the supervisor must see the bytes (an output limit, or --json capturing them):
 * the launcher makes the workload's stdout/stderr real pipes and relays them (native/relay.c), so the
 * workload sees pipes — `/dev/stdout` and `/dev/stderr` open as in a shell pipeline, as root too — and
 * the bytes arrive whole, in order per stream, and cut at the limit. As root and rootless.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { modes, sandboxExec } from '../helpers/cli.js';

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
  });
}
