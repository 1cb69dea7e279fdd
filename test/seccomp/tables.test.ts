/**
 * The generated syscall tables: pinned numbers per arch, the source attribution, and that the
 * committed file is exactly what the generator produces from the vendored source (../shared/data/syscalls).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { syscallNumber, syscallName, maxSyscallNumber, SYSCALL_TABLE_SOURCE } from '../../src/seccomp/index.js';
import { REPO, scratchDir } from './helpers/native.js';

test('x86_64 numbers', () => {
  for (const [name, nr] of [['read', 0], ['write', 1], ['ioctl', 16], ['getppid', 110], ['ptrace', 101], ['clone', 56],
    ['clone3', 435], ['io_uring_setup', 425], ['getrandom', 318], ['openat2', 437], ['rseq_slice_yield', 471]] as const) {
    assert.equal(syscallNumber('x86_64', name), nr, name);
    assert.equal(syscallName('x86_64', nr), name);
  }
  assert.equal(syscallNumber('x86_64', 'renameat'), 264);
});

test('aarch64 numbers (asm-generic)', () => {
  for (const [name, nr] of [['io_setup', 0], ['ioctl', 29], ['openat', 56], ['read', 63], ['write', 64], ['getppid', 173],
    ['clone', 220], ['clone3', 435], ['getrandom', 278], ['io_uring_setup', 425]] as const) {
    assert.equal(syscallNumber('aarch64', name), nr, name);
  }
  assert.equal(syscallNumber('aarch64', 'open'), undefined, 'aarch64 has no open()');
});

test('compat and x32 tables', () => {
  assert.equal(syscallNumber('i386', 'getpid'), 20);
  assert.equal(syscallNumber('i386', 'socketcall'), 102);
  assert.equal(syscallNumber('arm', 'getpid'), 20);
  assert.equal(syscallNumber('x32', 'getpid'), 0x40000000 + 39, 'x32 numbers carry the x32 bit');
});

test('highest numbers (ENOSYS above them)', () => {
  assert.equal(maxSyscallNumber('x86_64'), 471);
  assert.equal(maxSyscallNumber('aarch64'), 471);
});

test('the generated file records its source and licence', () => {
  assert.equal(SYSCALL_TABLE_SOURCE.commit, '2d39b256fc2fafab744bf1d0ce5c74bfdadb1a52');
  assert.equal(SYSCALL_TABLE_SOURCE.license, 'MIT');
  const text = readFileSync(join(REPO, 'src/seccomp/tables/syscalls.generated.ts'), 'utf8');
  assert.match(text, /Copyright \(c\) Marcin Juszkiewicz/);
  assert.match(text, /hrw\/syscalls-table/);
});

test('the committed tables are what the generator makes from the vendored source data', () => {
  const source = join(REPO, 'src/seccomp/tables/source');
  const out = join(scratchDir(), 'gen.ts');
  execFileSync('node', [join(REPO, 'src/seccomp/scripts/gen-tables.mjs'), source, out]);
  assert.equal(readFileSync(out, 'utf8'), readFileSync(join(REPO, 'src/seccomp/tables/syscalls.generated.ts'), 'utf8'));
  // The vendored copy is ../shared/data/syscalls unchanged, where that checkout layout exists.
  const shared = join(REPO, '..', 'shared', 'data', 'syscalls');
  if (existsSync(shared)) {
    for (const f of readdirSync(shared)) assert.equal(readFileSync(join(source, f), 'utf8'), readFileSync(join(shared, f), 'utf8'), f);
  }
});
