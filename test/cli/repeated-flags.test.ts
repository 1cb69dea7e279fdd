/**
 * A flag given more than once: one that takes a single value keeps the last (as in docker and podman;
 * yargs alone handed the code an array, and `--workdir /a --workdir /b` ended in an internal error),
 * and a repeatable one (--bind, --tmpfs, --env) keeps every value.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cli, modes } from '../helpers/cli.js';

for (const mode of modes()) {
  describe(`repeated flags (${mode.name})`, () => {
    test('--workdir twice: the last', async () => {
      const r = await cli(['exec', '--workdir', '/usr', '--workdir', '/tmp', '--', 'pwd'], { user: mode.user });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '/tmp\n');
    });
    test('--policy twice: the last (an unknown first one is not even looked up)', async () => {
      const r = await cli(['exec', '--policy', 'no-such-policy', '-p', 'strict', '--json', '--', 'true'], { user: mode.user });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).policy, 'strict');
    });
    test('a limit twice: the last, also for a numeric one', async () => {
      const r = await cli(['exec', '--pids', 'abc', '--pids', '7', '--memory', '1M', '--memory', '64M', '--json', '--', 'true'], { user: mode.user });
      assert.equal(r.code, 0, r.stderr);
      const limits = JSON.parse(r.stdout).limits;
      assert.equal(limits.pids.value, 7);
      assert.equal(limits.memory.value, 64 * 1024 * 1024);
    });
    test('--env twice: both', async () => {
      const r = await cli(['exec', '--env', 'A=1', '--env', 'B=2', '--', 'sh', '-c', 'echo $A$B'], { user: mode.user });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '12\n');
    });
  });
}
