/**
 * The seccomp cache directory is pruned after each write (src/launch/cache-prune.ts): entries not
 * written for 30 days go, and beyond 1,000 entries the oldest; only regular files named like ours.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CACHE_LIMITS, pruneCacheDir } from '../../src/launch/cache-prune.js';
import { writeCacheFile } from '../../src/launch/seccomp.js';

const root = mkdtempSync(join(tmpdir(), 'sbx-cache-prune-'));
after(() => rmSync(root, { recursive: true, force: true }));
const DAY = 24 * 3600 * 1000;

/** A directory holding `files` (name → age in days). */
function dirWith(name: string, files: Record<string, number>, now: number): string {
  const dir = join(root, name);
  mkdirSync(dir);
  for (const [file, days] of Object.entries(files)) {
    writeFileSync(join(dir, file), '{}');
    const when = new Date(now - days * DAY);
    utimesSync(join(dir, file), when, when);
  }
  return dir;
}

test('entries past the age go; younger ones, and what is not ours, stay', () => {
  const now = Date.now();
  const dir = dirWith('age', { 'in-old.json': 31, 'in-new.json': 1, '.1.2.3.tmp': 40, 'abc.json': 29, 'notes.txt': 400 }, now);
  mkdirSync(join(dir, 'sub.json'));
  symlinkSync('/etc/hostname', join(dir, 'link.json'));
  assert.equal(pruneCacheDir(dir, CACHE_LIMITS, now), 2);
  assert.deepEqual(readdirSync(dir).sort(), ['abc.json', 'in-new.json', 'link.json', 'notes.txt', 'sub.json']);
});

test('past the count, the oldest go', () => {
  const now = Date.now();
  const dir = dirWith('count', { 'a.json': 5, 'b.json': 1, 'c.json': 3, 'd.json': 2 }, now);
  assert.equal(pruneCacheDir(dir, { maxAgeMs: 30 * DAY, maxEntries: 2 }, now), 2);
  assert.deepEqual(readdirSync(dir).sort(), ['b.json', 'd.json']);
});

test('a missing directory is nothing to prune', () => {
  assert.equal(pruneCacheDir(join(root, 'missing')), 0);
});

test('writing an entry prunes the directory', () => {
  const dir = dirWith('write', { 'in-stale.json': 60 }, Date.now());
  writeCacheFile(dir, join(dir, 'in-fresh.json'), '{"x":1}');
  assert.deepEqual(readdirSync(dir), ['in-fresh.json']);
});
