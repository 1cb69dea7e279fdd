/**
 * Bind targets that already exist. A file bind's target is looked up, never opened: the launcher once
 * opened it for writing to make sure it existed, which hung setup for good on a FIFO (a workload can
 * leave one in a writable workspace for the next run) and failed on a read-only or root-owned file.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { modes, sandboxExec, tempDirFor } from '../helpers/cli.js';

for (const mode of modes()) {
  describe(`existing bind targets (${mode.name})`, () => {
    const dir = tempDirFor(mode.user, 'sbx-targets-');
    after(() => dir.cleanup());
    const source = join(dir.path, 'source.txt');
    writeFileSync(source, 'from the source\n');
    chmodSync(source, 0o644);
    const workspace = join(dir.path, 'ws');
    mkdirSync(workspace);
    assert.equal(spawnSync('mkfifo', [join(workspace, 'planted')]).status, 0);
    if (mode.user) spawnSync('chown', ['-R', mode.user, workspace]);

    test('a file bound onto a FIFO left in a writable workspace: set up at once, the file is there', async () => {
      const r = await sandboxExec(['cat', '/w/planted'], ['--bind', `${workspace}:/w:rw`, '--bind', `${source}:/w/planted`], { user: mode.user, timeoutMs: 15_000 });
      assert.equal(r.signal, null, 'the run did not hang in its setup');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'from the source\n');
    });

    test('a file bound onto an existing file of the read-only /usr', async () => {
      const r = await sandboxExec(['cat', '/usr/bin/env'], ['--policy', 'strict', '--bind', `${source}:/usr/bin/env`], { user: mode.user });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'from the source\n');
    });
  });
}
