/**
 * The launcher as native/Makefile builds it: static-pie (no ELF interpreter: no ld.so work at each
 * run's exec, bench/README.md session 10), and still hardened — position-independent (ASLR) and full
 * RELRO (relocations resolved at the start, then read-only). Read with binutils' readelf.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { LAUNCHER } from '../helpers/cli.js';

function readelf(flag: string): string {
  const r = spawnSync('readelf', [flag, '-W', LAUNCHER], { encoding: 'utf8' });
  assert.equal(r.status, 0, `readelf ${flag}: ${r.stderr} (binutils: apt-get install binutils)`);
  return r.stdout;
}

test('the launcher is static-pie: no interpreter, position-independent, full RELRO', () => {
  const header = readelf('-h');
  assert.match(header, /Type:\s+DYN/, 'position-independent (ET_DYN), so the kernel places it at a random address');
  const segments = readelf('-l');
  assert.doesNotMatch(segments, /\bINTERP\b/, 'linked dynamically: native/Makefile found no static libc (apt-get install libc6-dev, then npm run build:native)');
  assert.match(segments, /\bGNU_RELRO\b/);
  assert.match(readelf('-d'), /\bBIND_NOW\b|FLAGS_1.*\bNOW\b/, 'relocations resolved at the start (-z now), so RELRO covers the GOT');
});
