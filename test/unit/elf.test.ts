/**
 * src/host/elf.ts against real programs: a dynamically linked one names its loader, the launcher as
 * native/Makefile links it (static-pie) and busybox-static (static, not PIE) name none, and a file
 * that is not ELF is an error naming it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { elfInterpreter } from '../../src/host/elf.js';
import { LAUNCHER } from '../helpers/cli.js';

test('a dynamically linked program names its loader; static ones name none', () => {
  assert.match(elfInterpreter('/bin/true') ?? 'null', /^\/lib64\/ld-linux-x86-64\.so\.2$|^\/lib\/ld-linux/);
  assert.equal(elfInterpreter(LAUNCHER), null);
  assert.equal(elfInterpreter('/bin/busybox'), null, 'busybox-static (apt-get install busybox-static)');
});

test('a file that is not ELF, or too short: an error naming it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sbx-elf-'));
  try {
    writeFileSync(join(dir, 'script'), '#!/bin/sh\necho hi\n'.repeat(8));
    writeFileSync(join(dir, 'short'), '\x7fELF');
    assert.throws(() => elfInterpreter(join(dir, 'script')), /script: cannot read its ELF headers: not a little-endian ELF64 file/);
    assert.throws(() => elfInterpreter(join(dir, 'short')), /short: cannot read its ELF headers: truncated/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});
