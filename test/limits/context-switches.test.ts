/**
 * Context switches, isolate's csw-voluntary and csw-forced: from init's rusage (every process it
 * reaped) for a run that ends by itself, from /proc at the kill (the threads alive then) for a run
 * the sandbox kills. Both modes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { modes, sandboxExec, tempDirFor } from '../helpers/cli.js';
import type { Result } from '../../src/launch/result.js';

// Three CPU burners on this machine's cores for 300 ms each: more runnable processes than cores, so the
// scheduler must preempt them (involuntary switches); each sleep and each wait is a voluntary one.
const BURN = 'end=$(( $(date +%s%N) + 300000000 )); while [ $(date +%s%N) -lt $end ]; do :; done';
const cores = () => Number(readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm)?.length ?? 1);

for (const mode of modes()) {
  describe(`context switches (${mode.name})`, () => {
    const dir = tempDirFor(mode.user, 'sbx-csw-');
    after(() => dir.cleanup());

    test('a run that ends by itself: voluntary and involuntary switches of all its processes, in the Result and the meta file', async () => {
      const burners = Array.from({ length: cores() + 1 }, () => `(${BURN}) &`).join(' ');
      const meta = join(dir.path, 'meta.txt');
      const r = await sandboxExec(['sh', '-c', `sleep 0.05; ${burners} wait`], ['--policy', 'strict', '--json', '--meta', meta], { user: mode.user, timeoutMs: 90_000 });
      const result = JSON.parse(r.stdout) as Result;
      assert.equal(result.status, 'OK', result.message);
      const cs = result.time.contextSwitches;
      assert.ok(cs !== null, 'context switches are reported');
      assert.ok(cs.voluntary >= 2, `voluntary ${cs.voluntary}: at least the sleep and the wait`);
      assert.ok(cs.involuntary >= 1, `involuntary ${cs.involuntary}: ${cores() + 1} burners on ${cores()} cores are preempted`);
      const lines = readFileSync(meta, 'utf8');
      assert.match(lines, new RegExp(`\\ncsw-voluntary:${cs.voluntary}\\ncsw-forced:${cs.involuntary}\\n`));
    });

    test('a run the sandbox kills: the switches of its threads alive at the kill', async () => {
      // a threaded process that waits in every thread until killed at the wall-time limit
      const py = 'import threading, time\nts = [threading.Thread(target=lambda: [time.sleep(0.01) for _ in range(10**6)]) for _ in range(3)]\n[t.start() for t in ts]\n[t.join() for t in ts]';
      const r = await sandboxExec(['python3', '-c', py], ['--policy', 'strict', '--json', '--wall-time', '1s'], { user: mode.user, timeoutMs: 90_000 });
      const result = JSON.parse(r.stdout) as Result;
      assert.equal(result.status, 'TO', result.message);
      const cs = result.time.contextSwitches;
      assert.ok(cs !== null, 'context switches are reported for a killed run');
      // three threads sleeping 10 ms at a time for ~1 s: ~100 voluntary switches each, well over 100 in all
      assert.ok(cs.voluntary >= 100, `voluntary ${cs.voluntary}: the sleeping threads' switches are summed`);
    });
  });
}
