/**
 * Command-line mounts (src/launch/binds.ts): `--bind SRC:DST[:ro|rw]`, `--tmpfs DST[:SIZE]`, and the
 * safe resolution of bind sources (no symlink in any component, the real path named in the refusal).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { SandboxError, type SandboxErrorCode } from '../../src/errors.js';
import { parseBind, parseTmpfs, resolveBindSource, resolveBinds } from '../../src/launch/binds.js';

function refused(fn: () => unknown, code: SandboxErrorCode, message: RegExp): SandboxError {
  let caught: SandboxError | null = null;
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SandboxError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, message);
    caught = e;
    return true;
  });
  return caught!;
}

describe('parseBind', () => {
  const ok: [string, { source: string; target: string; mode: 'ro' | 'rw' }][] = [
    ['/src:/dst', { source: '/src', target: '/dst', mode: 'ro' }],
    ['/src:/dst:ro', { source: '/src', target: '/dst', mode: 'ro' }],
    ['/src:/dst:rw', { source: '/src', target: '/dst', mode: 'rw' }],
    ['./work:/work:rw', { source: './work', target: '/work', mode: 'rw' }],
    ['rel/dir:/a/b/c', { source: 'rel/dir', target: '/a/b/c', mode: 'ro' }],
  ];
  for (const [spec, want] of ok) test(`'${spec}'`, () => assert.deepEqual(parseBind(spec), want));

  const malformed = ['', 'only-one-part', '/src', ':/dst', '/src:', '/src:/dst:', '/src:/dst:rx', '/src:/dst:RW', 'a:b:c:d', '/src:/dst:ro:rw'];
  for (const spec of malformed) {
    test(`'${spec}' is refused: write SRC:DST`, () => {
      refused(() => parseBind(spec), 'USAGE', /write SRC:DST, SRC:DST:ro or SRC:DST:rw/);
    });
  }

  const badTargets = ['dst', './dst', '/a/../b', '/a/./b', '//a', '/a//b', '/a/', '/..'];
  for (const target of badTargets) {
    test(`target '${target}' is refused: absolute and canonical only`, () => {
      refused(() => parseBind(`/src:${target}`), 'USAGE', /must be an absolute path without '\.', '\.\.', '\/\/' or a trailing '\/'/);
    });
  }
});

describe('parseTmpfs', () => {
  test("'/scratch' has no size (the policy's /tmp size applies)", () => assert.deepEqual(parseTmpfs('/scratch'), { target: '/scratch' }));
  test("'/scratch:64M' carries its size as written", () => assert.deepEqual(parseTmpfs('/scratch:64M'), { target: '/scratch', size: '64M' }));
  for (const spec of ['', ':64M', '/a:1M:2']) {
    test(`'${spec}' is refused: write DST or DST:SIZE`, () => {
      refused(() => parseTmpfs(spec), 'USAGE', /write DST or DST:SIZE/);
    });
  }
  for (const spec of ['rel', '/a/', '/a/../b:1M']) {
    test(`'${spec}' is refused: canonical absolute target`, () => {
      refused(() => parseTmpfs(spec), 'USAGE', /must be an absolute path/);
    });
  }
});

describe('resolveBindSource', () => {
  // realpath: the test must not depend on whether TMPDIR itself is behind a symlink
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'sbx-binds-')));
  after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'real/sub'), { recursive: true });
  writeFileSync(join(dir, 'real/file.txt'), 'x');
  symlinkSync(join(dir, 'real'), join(dir, 'link'));
  symlinkSync('real/file.txt', join(dir, 'filelink'));
  symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling'));

  test('an absolute real path is returned as it is', () => {
    assert.equal(resolveBindSource(join(dir, 'real/sub'), '/'), join(dir, 'real/sub'));
    assert.equal(resolveBindSource(join(dir, 'real/file.txt'), '/'), join(dir, 'real/file.txt'));
  });

  test('relative sources are resolved against the given cwd, not the process cwd', () => {
    assert.notEqual(process.cwd(), dir);
    assert.equal(resolveBindSource('real/sub', dir), join(dir, 'real/sub'));
    assert.equal(resolveBindSource('./real', dir), join(dir, 'real'));
    assert.equal(resolveBindSource('.', join(dir, 'real')), join(dir, 'real'));
    assert.equal(resolveBindSource('../real/sub', join(dir, 'real')), join(dir, 'real/sub'));
  });

  test('a symlink as the last component is refused, naming the real path', () => {
    const e = refused(() => resolveBindSource(join(dir, 'link'), '/'), 'BIND_SOURCE',
      new RegExp(`${join(dir, 'link')} is a symlink, and bind sources are never followed through symlinks; give the real path \\(${join(dir, 'real')}\\)`));
    assert.equal(e.details['symlink'], join(dir, 'link'));
  });

  test('a symlink in a middle component is refused, naming that component and the real path of the whole source', () => {
    refused(() => resolveBindSource('link/sub', dir), 'BIND_SOURCE',
      new RegExp(`bind source ${join(dir, 'link/sub')}: ${join(dir, 'link')} is a symlink.*\\(${join(dir, 'real/sub')}\\)`));
  });

  test('a relative symlink to a file is refused too', () => {
    refused(() => resolveBindSource('filelink', dir), 'BIND_SOURCE', new RegExp(`give the real path \\(${join(dir, 'real/file.txt')}\\)`));
  });

  test('a dangling symlink is refused (no real path to offer)', () => {
    refused(() => resolveBindSource(join(dir, 'dangling'), '/'), 'BIND_SOURCE', /is a symlink.*give the real path \(\?\)/);
  });

  test('a nonexistent source is refused, naming the first missing component', () => {
    refused(() => resolveBindSource(join(dir, 'real/none/deeper'), '/'), 'BIND_SOURCE',
      new RegExp(`bind source ${join(dir, 'real/none/deeper')} does not exist \\(${join(dir, 'real/none')} is missing\\)`));
  });

  test('a path through a regular file is refused (cannot inspect)', () => {
    refused(() => resolveBindSource(join(dir, 'real/file.txt/x'), '/'), 'BIND_SOURCE', /cannot inspect .*file\.txt\/x \(ENOTDIR\)/);
  });

  test('resolveBinds resolves every source and keeps target and mode', () => {
    assert.deepEqual(resolveBinds([{ source: 'real', target: '/r', mode: 'rw' }, { source: 'real/sub', target: '/s', mode: 'ro' }], dir), [
      { source: join(dir, 'real'), target: '/r', mode: 'rw' },
      { source: join(dir, 'real/sub'), target: '/s', mode: 'ro' },
    ]);
    refused(() => resolveBinds([{ source: 'real', target: '/r', mode: 'ro' }, { source: 'link', target: '/l', mode: 'ro' }], dir), 'BIND_SOURCE', /is a symlink/);
  });
});
