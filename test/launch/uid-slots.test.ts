/**
 * Unused uid-slot lock files can be removed (`sandbox doctor --clean`, src/host/uid-slot-clean.ts):
 * only regular files named by a uid that no one holds go; a held lock, a symlink, a directory and
 * other names stay. And removing them while sandboxes start is safe: a launcher counts a lock only
 * while the path still names the file it locked (native/uid_slot.c), so concurrent sandboxes keep
 * distinct host uids while a cleaner removes every unlocked file it can, as fast as it can (without
 * that check, this test saw two sandboxes share a uid in about one run of three). As root.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { run } from '../../src/api.js';
import { cleanUnusedUidSlots } from '../../src/host/uid-slot-clean.js';
import { LOCK_DIR } from '../../src/host/uid-slots.js';
import { modes, sandboxExec, TEST_USER, userIds } from '../helpers/cli.js';

modes(); // root, and the test user exists: fails with the fix otherwise

describe('uid-slot lock files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sbx-slots-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('only unheld lock files go; a held one, a symlink, a directory and other names stay', async () => {
    for (const uid of [1000, 1001, 1002, 1003, 1004]) writeFileSync(join(dir, String(uid)), '');
    const target = join(dir, 'target');
    writeFileSync(target, 'keep');
    symlinkSync(target, join(dir, '1005'));
    mkdirSync(join(dir, '1006'));
    writeFileSync(join(dir, 'notes'), '');
    // a sandbox's lock, held by another process for as long as it sleeps
    const holder = spawn('flock', ['--exclusive', '--nonblock', join(dir, '1002'), '-c', 'echo held; sleep 30'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
      assert.deepEqual(await cleanUnusedUidSlots(dir), { removed: 4, held: 1 });
      assert.deepEqual(readdirSync(dir).sort(), ['1002', '1005', '1006', 'notes', 'target']);
      assert.equal(readFileSync(target, 'utf8'), 'keep', 'the link was not followed');
    } finally {
      holder.kill('SIGKILL');
    }
  });

  test('no directory: nothing to do', async () => {
    assert.deepEqual(await cleanUnusedUidSlots(join(dir, 'missing')), { removed: 0, held: 0 });
  });

  test('sandboxes started while a cleaner removes every unheld lock file keep distinct host uids', async () => {
    const uidRange = `${0x70000000 + 40000}:8`;
    let cleaning = true;
    let passes = 0;
    const cleaner = (async () => {
      while (cleaning) {
        await cleanUnusedUidSlots(LOCK_DIR);
        passes += 1;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    try {
      for (let round = 0; round < 12; round++) {
        const results = await Promise.all(Array.from({ length: 4 }, () =>
          run({ uidRange, command: ['sleep', '0.1'], stdin: 'ignore', launcher: 'spawn' })));
        for (const r of results) assert.equal(r.status, 'OK', r.message);
        const uids = results.map((r) => r.hostUid);
        assert.equal(new Set(uids).size, uids.length, `round ${round}: host uids ${uids.join(', ')}`);
      }
    } finally {
      cleaning = false;
      await cleaner;
    }
    assert.ok(passes > 12, `the cleaner ran alongside (${passes} passes)`);
    assert.ok(existsSync(LOCK_DIR));
  });
});

test('as root, a uid range that holds an account is refused before anything runs', async () => {
  assert.equal(process.geteuid!(), 0, 'this test runs as root (CI does)');
  const { uid } = userIds(TEST_USER);
  const r = await sandboxExec(['id', '-u'], ['--uid-range', `${uid}:1`]);
  assert.equal(r.code, 125, r.stdout);
  assert.equal(r.stdout, '', 'the workload did not run');
  assert.match(r.stderr, new RegExp(`uid range ${uid}:1 cannot be used: ${uid} is the account '${TEST_USER}' in /etc/passwd`));
});
