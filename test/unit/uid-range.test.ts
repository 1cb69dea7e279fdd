/**
 * A root sandbox's host uid range must not overlap ids the host gives out (src/host/uid-slots.ts):
 * an account, a group (a sandbox's gid is its uid), or a subordinate range of /etc/subuid or
 * /etc/subgid (rootless containers). `--uid-range 1001:1` used to run the workload as the account 1001.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rangeConflict, type IdFiles } from '../../src/host/uid-slots.js';

const host: IdFiles = {
  passwd: 'root:x:0:0:root:/root:/bin/bash\nsbxtest:x:1001:1001::/home/sbxtest:/bin/sh\n',
  group: 'root:x:0:\ndocker:x:2500:\n',
  subuid: 'sbxtest:100000:65536\n',
  subgid: 'sbxtest:300000:65536\n',
};

test('a range clear of every id is free', () => {
  assert.equal(rangeConflict({ start: 0x70000000, count: 65536 }, host), null);
  assert.equal(rangeConflict({ start: 1002, count: 1498 }, host), null, 'ends right before the group 2500');
  assert.equal(rangeConflict({ start: 165536, count: 10 }, host), null, 'right after the subuid range');
});

test('each kind of conflict is named, with the file', () => {
  assert.equal(rangeConflict({ start: 1001, count: 1 }, host), "1001 is the account 'sbxtest' in /etc/passwd");
  assert.equal(rangeConflict({ start: 2000, count: 1000 }, host), "2500 is the group 'docker' in /etc/group");
  assert.equal(rangeConflict({ start: 150000, count: 100 }, host), "150000 is in sbxtest's subordinate range 100000:65536 in /etc/subuid");
  assert.equal(rangeConflict({ start: 299990, count: 20 }, host), "300000 is in sbxtest's subordinate range 300000:65536 in /etc/subgid");
});

test('absent files, blank and malformed lines are no conflict', () => {
  assert.equal(rangeConflict({ start: 1001, count: 1 }, { passwd: null, group: null, subuid: null, subgid: null }), null);
  assert.equal(rangeConflict({ start: 1001, count: 1 }, { passwd: '\n# comment\nbroken\nx:y::\n', group: '', subuid: 'a:b:c\n', subgid: null }), null);
});
