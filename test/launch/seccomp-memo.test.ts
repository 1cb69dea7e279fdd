/**
 * compileForRun keeps programs by their exact inputs (src/launch/seccomp.ts): in memory for the rest of
 * the process, and on disk for the next process. Never past an edit: a `{file}` profile that changed is
 * compiled again, inline sections are told apart by their content, and a profile that became
 * unreadable is an error. On disk, an entry is used only if its stored inputs match and its program
 * matches its digest: a damaged entry (even one whose program is still a valid one), an entry from
 * before digests, or one of the same name for other inputs, is compiled over.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { cacheDir, compileForRun } from '../../src/launch/seccomp.js';
import { SandboxError } from '../../src/errors.js';
import { ROOT } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'sbx-seccomp-memo-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const kernel = '6.1.0';
const euid = process.geteuid!();
const CACHE = cacheDir(euid);

function profile(errno: string, comment = 'test'): string {
  return JSON.stringify({ comment, defaultAction: 'errno', defaultErrno: errno, syscalls: [{ names: ['read', 'write', 'exit_group'], action: 'allow' }] });
}

/** compileForRun in a new process (nothing in memory): its hash and program. */
function inFreshProcess(section: unknown): { hash: string; program: string } {
  const code = `import { compileForRun } from ${JSON.stringify(join(ROOT, 'dist/src/launch/seccomp.js'))};
    const p = await compileForRun(${JSON.stringify(section)}, ${JSON.stringify(dir)}, ${JSON.stringify(kernel)}, ${euid});
    console.log(JSON.stringify({ hash: p.hash, program: p.program.toString('base64') }));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' })) as { hash: string; program: string };
}

/** The disk entry whose stored inputs contain `marker`. */
function entryWith(marker: string): string {
  const found = readdirSync(CACHE).filter((f) => f.startsWith('in-') && readFileSync(join(CACHE, f), 'utf8').includes(marker));
  assert.equal(found.length, 1, `one entry for ${marker}`);
  return join(CACHE, found[0]!);
}

test('the same file profile twice: the same program, served from memory', async () => {
  writeFileSync(join(dir, 'a.json'), profile('EPERM'));
  const first = await compileForRun({ file: 'a.json' }, dir, kernel, euid);
  const second = await compileForRun({ file: 'a.json' }, dir, kernel, euid);
  assert.equal(second, first, 'the very same program object');
});

test('an edited file profile is compiled again, even at the same size and instant', async () => {
  writeFileSync(join(dir, 'b.json'), profile('EPERM'));
  const before = await compileForRun({ file: 'b.json' }, dir, kernel, euid);
  writeFileSync(join(dir, 'b.json'), profile('EBUSY'));
  const after = await compileForRun({ file: 'b.json' }, dir, kernel, euid);
  assert.notEqual(after.hash, before.hash);
  assert.ok(!after.program.equals(before.program), 'the new errno is in the program');
});

test('inline sections are told apart by content', async () => {
  const a = await compileForRun(JSON.parse(profile('EPERM')), dir, kernel, euid);
  const b = await compileForRun(JSON.parse(profile('EACCES')), dir, kernel, euid);
  assert.notEqual(a.hash, b.hash);
});

test('a profile file that disappeared is an error, not the remembered program', async () => {
  writeFileSync(join(dir, 'c.json'), profile('EPERM'));
  await compileForRun({ file: 'c.json' }, dir, kernel, euid);
  unlinkSync(join(dir, 'c.json'));
  await assert.rejects(compileForRun({ file: 'c.json' }, dir, kernel, euid), (e: unknown) => e instanceof SandboxError && e.code === 'SECCOMP' && /cannot read/.test(e.message));
});

test('on disk: the next process gets the same program; a damaged entry or one for other inputs is compiled over', async () => {
  const marker = `memo-disk-${process.pid}-${Date.now()}`;
  const section = JSON.parse(profile('EPERM', marker)) as Record<string, unknown>;
  const here = await compileForRun(section, dir, kernel, euid);
  const expected = { hash: here.hash, program: here.program.toString('base64') };
  const entry = entryWith(marker);
  assert.deepEqual(inFreshProcess(section), expected, 'served from the disk entry');

  // damaged: a load at a misaligned offset, which the kernel would refuse
  const stored = JSON.parse(readFileSync(entry, 'utf8')) as { inputs: string; hash: string; program: string };
  const bad = Buffer.from(stored.program, 'base64');
  bad.writeUInt32LE(2, 4);
  writeFileSync(entry, JSON.stringify({ ...stored, program: bad.toString('base64') }));
  assert.deepEqual(inFreshProcess(section), expected, 'a damaged program is not used');

  // damaged into another valid program (an errno changed): the kernel would load it, the digest refuses it
  const valid = Buffer.from(stored.program, 'base64');
  const changed = Buffer.from(valid);
  const RET_K = 0x06; // every RET's value with its low bit flipped: still a program the kernel loads
  for (let o = 0; o < changed.length; o += 8) if (changed.readUInt16LE(o) === RET_K) changed.writeUInt32LE((changed.readUInt32LE(o + 4) ^ 1) >>> 0, o + 4);
  assert.ok(!changed.equals(valid));
  writeFileSync(entry, JSON.stringify({ ...stored, program: changed.toString('base64') }));
  assert.deepEqual(inFreshProcess(section), expected, 'a program other than the one written is not used');

  // an entry from before digests: compiled over, and rewritten with one
  writeFileSync(entry, JSON.stringify({ inputs: stored.inputs, hash: stored.hash, program: stored.program }));
  assert.deepEqual(inFreshProcess(section), expected);
  assert.equal(typeof (JSON.parse(readFileSync(entry, 'utf8')) as { digest?: unknown }).digest, 'string', 'rewritten with a digest');

  // the same name, other inputs (a name collision): another profile's valid program is not used
  const other = await compileForRun(JSON.parse(profile('EACCES', `${marker}-other`)), dir, kernel, euid);
  writeFileSync(entry, JSON.stringify({ inputs: 'other inputs', hash: other.hash, program: other.program.toString('base64') }));
  assert.deepEqual(inFreshProcess(section), expected, 'an entry for other inputs is not used');
  assert.equal((JSON.parse(readFileSync(entry, 'utf8')) as { inputs: string }).inputs.includes(marker), true, 'and it was rewritten for ours');
});

test('on disk: a profile file edited to the same length is compiled again in the next process', async () => {
  // the entry's name depends on the file's length only; its stored inputs hold the whole text
  const file = `same-length-${process.pid}-${Date.now()}.json`;
  writeFileSync(join(dir, file), profile('EPERM'));
  const before = inFreshProcess({ file });
  writeFileSync(join(dir, file), profile('EBUSY'));
  const after = inFreshProcess({ file });
  assert.notEqual(after.hash, before.hash);
  assert.notEqual(after.program, before.program);
  assert.deepEqual(after, { hash: (await compileForRun({ file }, dir, kernel, euid)).hash, program: after.program });
  writeFileSync(join(dir, file), profile('EPERM'));
  assert.deepEqual(inFreshProcess({ file }), before, 'and back');
});

// XDG base directories: "If an implementation encounters a relative path in any of these variables it
// should consider the path invalid and ignore it". A relative one made the cache in the current directory.
test('a relative XDG_CACHE_HOME is ignored: the cache goes to ~/.cache, not the current directory', () => {
  const home = join(dir, 'xdg-home');
  const cwd = join(dir, 'xdg-cwd');
  mkdirSync(home);
  mkdirSync(cwd);
  // the user cache (as root there is one system cache, which no XDG variable changes)
  const user = euid === 0 ? 65534 : euid;
  const compileIn = (xdg: string) => {
    const code = `import { compileForRun } from ${JSON.stringify(join(ROOT, 'dist/src/launch/seccomp.js'))};
      await compileForRun(${JSON.stringify(JSON.parse(profile('EPERM', 'xdg')))}, ${JSON.stringify(dir)}, ${JSON.stringify(kernel)}, ${user});`;
    execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, XDG_CACHE_HOME: xdg } });
  };
  compileIn('relative-cache');
  assert.equal(existsSync(join(cwd, 'relative-cache')), false, 'nothing in the current directory');
  assert.ok(existsSync(join(home, '.cache/sandbox/seccomp')), 'the default, ~/.cache');
  compileIn(join(dir, 'xdg-absolute'));
  assert.ok(existsSync(join(dir, 'xdg-absolute/sandbox/seccomp')), 'an absolute XDG_CACHE_HOME is followed');
});
