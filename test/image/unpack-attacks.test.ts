/**
 * The malicious layer corpus: each attack is made here, imported under an accept-anything policy
 * (so it reaches the unpacker), and must be refused with its specific reason, leaving nothing
 * outside the store's temp directory, no image in the store and an empty temp directory.
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { ImageStore, parseTrustPolicy } from '../../src/image/index.js';
import { SandboxError } from '../../src/errors.js';
import { emptyFileHeaders, listTree, makeTar, tarEntry, tempDir, writeLayout, type TarEntry, type LayoutSpec, MT, sha256hex, writeBlob } from './helpers.js';

const acceptAll = parseTrustPolicy(Buffer.from('{"default":[{"type":"insecureAcceptAnything"}]}'), 'test-policy.json');

interface Arena {
  base: string;
  layout: string;
  store: string;
  before: string[];
}

/** base/{outside/sentinel, layout/, store/}: attacks aim at base/outside and at /tmp. */
function arena(t: TestContext): Arena {
  const base = tempDir(t);
  fs.mkdirSync(path.join(base, 'outside'));
  fs.writeFileSync(path.join(base, 'outside', 'sentinel'), 'original\n');
  return { base, layout: path.join(base, 'layout'), store: path.join(base, 'store'), before: listTree(base) };
}

function outsideStore(a: Arena): string[] {
  return listTree(a.base).filter((p) => !p.startsWith('store') && !p.startsWith('layout'));
}

/** Imports and expects a refusal with `reason`; then checks nothing leaked. */
async function expectRefused(a: Arena, spec: LayoutSpec, reason: string, messagePart?: RegExp): Promise<SandboxError> {
  writeLayout(a.layout, spec);
  const store = new ImageStore(a.store);
  const err = await store.import(a.layout, { policy: acceptAll }).then(
    () => assert.fail(`import succeeded; expected refusal "${reason}"`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof SandboxError, `expected SandboxError, got ${String(err)}`);
  assert.equal(err.details.reason, reason, `reason: ${err.message}`);
  if (messagePart) assert.match(err.message, messagePart);
  assertNothingLeaked(a);
  return err;
}

function assertNothingLeaked(a: Arena): void {
  assert.deepEqual(outsideStore(a), a.before.filter((p) => !p.startsWith('store') && !p.startsWith('layout')));
  assert.equal(fs.readFileSync(path.join(a.base, 'outside', 'sentinel'), 'utf8'), 'original\n');
  assert.deepEqual(fs.readdirSync(path.join(a.store, 'tmp')), [], 'store temp dir cleaned');
  assert.deepEqual(fs.readdirSync(path.join(a.store, 'images')), [], 'no image became visible');
  assert.deepEqual(fs.readdirSync(path.join(a.store, 'refs')), [], 'no ref written');
}

const layer = (...entries: TarEntry[]): Buffer => makeTar(entries);

test('path traversal with .. is refused', async (t) => {
  const a = arena(t);
  await expectRefused(a, { layers: [layer({ name: 'ok' }, { name: '../../../../outside/escape', data: 'x' })] }, 'path-traversal', /"\.\.\/\.\.\/\.\.\/\.\.\/outside\/escape".*contains "\.\."/);
});

test('.. hidden in the middle of a path is refused', async (t) => {
  const a = arena(t);
  await expectRefused(a, { layers: [layer({ name: 'a/', type: '5' }, { name: 'a/../../outside/escape', data: 'x' })] }, 'path-traversal');
});

test('absolute path is refused', async (t) => {
  const a = arena(t);
  const target = `/tmp/sbx-absolute-${randomBytes(6).toString('hex')}`;
  await expectRefused(a, { layers: [layer({ name: target, data: 'pwned' })] }, 'absolute-path', /is absolute/);
  assert.equal(fs.existsSync(target), false);
});

test('symlink then write through it (same layer) is refused', async (t) => {
  const a = arena(t);
  const outside = path.join(a.base, 'outside');
  await expectRefused(
    a,
    { layers: [layer({ name: 'evil', type: '2', linkname: outside }, { name: 'evil/sentinel', data: 'overwritten' }, { name: 'evil/new', data: 'x' })] },
    'symlink-write',
    /parent evil is a symlink/,
  );
});

test('symlink in a lower layer, write through it in an upper layer is refused', async (t) => {
  const a = arena(t);
  await expectRefused(
    a,
    { layers: [layer({ name: 'etc/', type: '5' }, { name: 'etc/link', type: '2', linkname: '../../../../outside' }), layer({ name: 'etc/link/new', data: 'x' })] },
    'symlink-write',
  );
});

test('relative symlink pointing up, then a directory through it, is refused', async (t) => {
  const a = arena(t);
  await expectRefused(a, { layers: [layer({ name: 'up', type: '2', linkname: '../..' }, { name: 'up/outside/dir/', type: '5' })] }, 'symlink-write');
});

test('hardlink to a file outside the rootfs (..) is refused', async (t) => {
  const a = arena(t);
  await expectRefused(a, { layers: [layer({ name: 'h', type: '1', linkname: '../../outside/sentinel' })] }, 'hardlink-outside');
});

test('hardlink to an absolute host path is refused', async (t) => {
  const a = arena(t);
  await expectRefused(a, { layers: [layer({ name: 'passwd', type: '1', linkname: '/etc/passwd' })] }, 'hardlink-outside');
});

test('hardlink whose target goes through a symlink is refused', async (t) => {
  const a = arena(t);
  await expectRefused(a, { layers: [layer({ name: 's', type: '2', linkname: '/etc' }, { name: 'h', type: '1', linkname: 's/passwd' })] }, 'hardlink-outside');
});

test('hardlink forward (target not yet extracted) is refused', async (t) => {
  const a = arena(t);
  await expectRefused(a, { layers: [layer({ name: 'a', type: '1', linkname: 'b' }, { name: 'b', data: 'later' })] }, 'hardlink-forward', /not extracted yet/);
});

test('character device node is refused', async (t) => {
  const a = arena(t);
  await expectRefused(a, { layers: [layer({ name: 'dev/', type: '5' }, { name: 'dev/sda', type: '3' })] }, 'device-node');
});

test('block device node is refused', async (t) => {
  const a = arena(t);
  await expectRefused(a, { layers: [layer({ name: 'disk', type: '4' })] }, 'device-node');
});

test('FIFO node is refused', async (t) => {
  const a = arena(t);
  await expectRefused(a, { layers: [layer({ name: 'pipe', type: '6' })] }, 'fifo-node');
});

test('an entry node-tar skips (a volume label) is refused, not silently dropped', async (t) => {
  const a = arena(t);
  await expectRefused(a, { layers: [layer({ name: 'label', type: 'V' }, { name: 'f', data: 'x' })] }, 'unsupported-entry', /type .*V|cannot be unpacked/);
});

test('a pax header over 1 MiB is refused: skipped, the next entry would take the wrong name', async (t) => {
  const a = arena(t);
  // tarEntry puts a name over 100 bytes in a pax header: this one is 1.2 MB
  await expectRefused(a, { layers: [layer({ name: `${'d/'.repeat(600_000)}f`, data: 'x' }, { name: 'bin/', type: '5' })] }, 'unsupported-entry');
});

test('a path deeper than 256 directories is refused (a deeper tree once broke every later command of the store)', async (t) => {
  const a = arena(t);
  await expectRefused(a, { layers: [layer({ name: `${'d/'.repeat(300)}f`, data: 'x' })] }, 'path-too-long', /more than 256 directories deep/);
});

test('a name longer than 255 bytes and a link target longer than 4095 are refused, not an ENAMETOOLONG trace', async (t) => {
  await expectRefused(arena(t), { layers: [layer({ name: `${'n'.repeat(300)}`, data: 'x' })] }, 'path-too-long', /name longer than 255 bytes/);
  await expectRefused(arena(t), { layers: [layer({ name: 'l', type: '2', linkname: `/${'t'.repeat(5000)}` })] }, 'path-too-long', /link target is longer than 4095 bytes/);
});

test('setuid/setgid bits are stripped, the rest of the mode kept', async (t) => {
  const a = arena(t);
  writeLayout(a.layout, { layers: [layer({ name: 'bin/', type: '5' }, { name: 'bin/su', data: '#!/bin/sh\n', mode: 0o4755 }, { name: 'bin/sg', data: 'x', mode: 0o2711 }, { name: 'shared/', type: '5', mode: 0o3777 })] });
  const store = new ImageStore(a.store);
  const [r] = await store.import(a.layout, { policy: acceptAll });
  const rootfs = store.load(r!.digest).rootfs;
  assert.equal(fs.statSync(path.join(rootfs, 'bin/su')).mode & 0o7777, 0o755);
  assert.equal(fs.statSync(path.join(rootfs, 'bin/sg')).mode & 0o7777, 0o711);
  assert.equal(fs.statSync(path.join(rootfs, 'shared')).mode & 0o7777, 0o1777); // sticky kept, setgid gone
});

test('1e6 tiny entries are refused at the entry cap, before any file is written', async (t) => {
  const a = arena(t);
  // Streamed into gzip in batches: the uncompressed tar would be 512 MB.
  const gz = zlib.createGzip({ level: 1 });
  const out: Buffer[] = [];
  gz.on('data', (c: Buffer) => out.push(c));
  for (let i = 0; i < 1_000_000; i += 50_000) gz.write(emptyFileHeaders(i, i + 50_000, (j) => `d${j % 1000}/f${j}`));
  gz.end(Buffer.alloc(1024));
  await new Promise((r) => gz.on('end', r));
  const blob = Buffer.concat(out);
  // writeLayout compresses; build this layout by hand around the pre-compressed blob.
  const diffId = 'sha256:0000000000000000000000000000000000000000000000000000000000000000';
  writeLayout(a.layout, { layers: [], editConfig: (c) => (c.rootfs.diff_ids = [diffId]), editManifest: (m) => m.layers.push({ mediaType: MT.gzip, ...writeBlob(a.layout, blob) }) });
  const store = new ImageStore(a.store);
  const err = await store.import(a.layout, { policy: acceptAll }).then(() => assert.fail('accepted'), (e: SandboxError) => e);
  assert.equal(err.details.reason, 'too-many-entries', err.message);
  assert.match(err.message, /more than 500000 entries/);
  assertNothingLeaked(a);
});

test('compression bomb (gzip of zeros) is refused while inflating', async (t) => {
  const a = arena(t);
  const gz = zlib.createGzip({ level: 9 });
  const out: Buffer[] = [];
  gz.on('data', (c: Buffer) => out.push(c));
  // A header for a 1 GiB file, then 1 GiB of zeros: ~1 MB compressed.
  const header = tarEntry({ name: 'zeros', data: Buffer.alloc(1) }).subarray(0, 512);
  const size = 1 << 30;
  header.write(size.toString(8).padStart(11, '0') + '\0', 124);
  header.write('        ', 148);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  gz.write(header);
  const zeros = Buffer.alloc(1 << 20);
  for (let i = 0; i < 1024; i++) gz.write(zeros);
  gz.end(Buffer.alloc(1024));
  await new Promise((r) => gz.on('end', r));
  const blob = Buffer.concat(out);
  writeLayout(a.layout, {
    layers: [],
    editConfig: (c) => (c.rootfs.diff_ids = ['sha256:' + '0'.repeat(64)]),
    editManifest: (m) => m.layers.push({ mediaType: MT.gzip, ...writeBlob(a.layout, blob) }),
  });
  const store = new ImageStore(a.store);
  const err = await store.import(a.layout, { policy: acceptAll }).then(() => assert.fail('accepted'), (e: SandboxError) => e);
  assert.equal(err.details.reason, 'compression-ratio', err.message);
  assert.match(err.message, /compression bomb/);
  assertNothingLeaked(a);
});

test('gzip content declared as an uncompressed tar (media-type confusion) is refused', async (t) => {
  const a = arena(t);
  const tar = layer({ name: 'f', data: 'x' });
  const gz = zlib.gzipSync(tar);
  await expectRefused(
    a,
    {
      layers: [],
      editConfig: (c) => (c.rootfs.diff_ids = ['sha256:' + sha256hex(tar)]),
      editManifest: (m) => m.layers.push({ mediaType: MT.tar, ...writeBlob(a.layout, gz) }),
    },
    'media-type',
    /content is gzip but its media type is application\/vnd\.oci\.image\.layer\.v1\.tar/,
  );
});

test('a layer compressed twice is refused', async (t) => {
  const a = arena(t);
  const inner = zlib.gzipSync(layer({ name: 'f', data: 'x' }));
  await expectRefused(
    a,
    {
      layers: [],
      editConfig: (c) => (c.rootfs.diff_ids = ['sha256:' + sha256hex(inner)]),
      editManifest: (m) => m.layers.push({ mediaType: MT.gzip, ...writeBlob(a.layout, zlib.gzipSync(inner)) }),
    },
    'media-type',
    /compressed inside its compression/,
  );
});

test('a layer whose content does not match the config diff_id is refused', async (t) => {
  const a = arena(t);
  await expectRefused(a, { layers: [layer({ name: 'f', data: 'x' })], editConfig: (c) => (c.rootfs.diff_ids = ['sha256:' + '1'.repeat(64)]) }, 'diffid-mismatch');
});

test('whiteout naming .. is refused', async (t) => {
  const a = arena(t);
  await expectRefused(a, { layers: [layer({ name: 'a/', type: '5' }), layer({ name: 'a/.wh...', data: '' })] }, 'path-traversal');
});

test('whiteouts and opaque directories hide lower-layer content only', async (t) => {
  const a = arena(t);
  writeLayout(a.layout, {
    layers: [
      layer({ name: 'keep', data: '1' }, { name: 'gone', data: '1' }, { name: 'd/', type: '5' }, { name: 'd/old1', data: '1' }, { name: 'd/sub/', type: '5' }, { name: 'd/sub/old2', data: '1' }),
      layer({ name: '.wh.gone' }, { name: 'd/', type: '5' }, { name: 'd/new-before', data: '2' }, { name: 'd/.wh..wh..opq' }, { name: 'd/new-after', data: '2' }, { name: '.wh.never-existed' }),
    ],
  });
  const store = new ImageStore(a.store);
  const [r] = await store.import(a.layout, { policy: acceptAll });
  const rootfs = store.load(r!.digest).rootfs;
  assert.deepEqual(listTree(rootfs), ['d', 'd/new-after', 'd/new-before', 'keep']);
});

test('a whiteout keeps what its own layer made, also when it comes after it (a/b, then .wh.a)', async (t) => {
  const a = arena(t);
  writeLayout(a.layout, { layers: [layer({ name: 'a/b', data: 'mine' }, { name: '.wh.a' })] });
  const store = new ImageStore(a.store);
  const [r] = await store.import(a.layout, { policy: acceptAll });
  const rootfs = store.load(r!.digest).rootfs;
  assert.deepEqual(listTree(rootfs), ['a', 'a/b']);
  assert.equal(fs.readFileSync(path.join(rootfs, 'a', 'b'), 'utf8'), 'mine');
});

test('a whiteout or opaque after the layer\'s own entries removes only the lower content around them', async (t) => {
  const a = arena(t);
  writeLayout(a.layout, {
    layers: [
      layer({ name: 'a/old', data: '1' }, { name: 'd/sub/old', data: '1' }, { name: 'd/old', data: '1' }),
      // a/ and d/sub/ are lower directories that this layer writes into, then hides
      layer({ name: 'a/new', data: '2' }, { name: '.wh.a' }, { name: 'd/sub/new', data: '2' }, { name: 'd/.wh..wh..opq' }, { name: 'd/.wh..wh..opq' }),
    ],
  });
  const store = new ImageStore(a.store);
  const [r] = await store.import(a.layout, { policy: acceptAll });
  assert.deepEqual(listTree(store.load(r!.digest).rootfs), ['a', 'a/new', 'd', 'd/sub', 'd/sub/new']);
});

test('a later layer replaces a hardlinked file without writing through the link', async (t) => {
  const a = arena(t);
  writeLayout(a.layout, { layers: [layer({ name: 'orig', data: 'original' }, { name: 'alias', type: '1', linkname: 'orig' }), layer({ name: 'alias', data: 'replaced' })] });
  const store = new ImageStore(a.store);
  const [r] = await store.import(a.layout, { policy: acceptAll });
  const rootfs = store.load(r!.digest).rootfs;
  assert.equal(fs.readFileSync(path.join(rootfs, 'orig'), 'utf8'), 'original');
  assert.equal(fs.readFileSync(path.join(rootfs, 'alias'), 'utf8'), 'replaced');
});

test('a file replacing a symlink does not write through it', async (t) => {
  const a = arena(t);
  const target = path.join(a.base, 'outside', 'sentinel');
  writeLayout(a.layout, { layers: [layer({ name: 'link', type: '2', linkname: target }), layer({ name: 'link', data: 'mine' })] });
  const store = new ImageStore(a.store);
  const [r] = await store.import(a.layout, { policy: acceptAll });
  assert.equal(fs.readFileSync(path.join(store.load(r!.digest).rootfs, 'link'), 'utf8'), 'mine');
  assert.equal(fs.readFileSync(target, 'utf8'), 'original\n');
});

test('security.* xattrs in pax headers are not applied', async (t) => {
  const a = arena(t);
  const pax = paxHeader({ 'SCHILY.xattr.security.capability': '\x01\x00\x00\x02' });
  const tar = Buffer.concat([pax, tarEntry({ name: 'ping', data: 'x', mode: 0o755 }), Buffer.alloc(1024)]);
  writeLayout(a.layout, { layers: [tar] });
  const store = new ImageStore(a.store);
  const [r] = await store.import(a.layout, { policy: acceptAll });
  const file = path.join(store.load(r!.digest).rootfs, 'ping');
  assert.equal(fs.readFileSync(file, 'utf8'), 'x');
  const { spawnSync } = await import('node:child_process');
  const attrs = spawnSync('getfattr', ['-d', '-m', '-', file], { encoding: 'utf8' });
  assert.equal(attrs.error, undefined, 'getfattr (Debian package attr) is needed');
  assert.equal(attrs.status, 0, attrs.stderr);
  assert.doesNotMatch(attrs.stdout, /security\./);
});

/** A pax extended header ('x') carrying `records`, for the entry that follows it. */
function paxHeader(records: Record<string, string>): Buffer {
  const body = Object.entries(records).map(([k, v]) => {
    const rec = ` ${k}=${v}\n`;
    let len = rec.length + 1;
    while (String(len).length + rec.length !== len) len = String(len).length + rec.length;
    return `${len}${rec}`;
  }).join('');
  const h = tarEntry({ name: 'PaxHeader', data: body });
  h.write('x', 156);
  h.write('        ', 148);
  let sum = 0;
  for (const b of h.subarray(0, 512)) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

test('an mtime that is no time (pax 1e400, -1e30, abc) is refused in pass 1, not an EINVAL trace', async (t) => {
  for (const mtime of ['1e400', '-1e30', 'abc']) {
    for (const entry of [{ name: 'f', data: 'x' }, { name: 'd/', type: '5' }]) {
      const a = arena(t);
      // layer 0 would be refused only in pass 2 (a forward hardlink): layer 1's refusal first shows pass 1 made it
      const bad = Buffer.concat([paxHeader({ mtime }), tarEntry(entry), Buffer.alloc(1024)]);
      const err = await expectRefused(a, { layers: [layer({ name: 'l', type: '1', linkname: 'later' }, { name: 'later', data: 'x' }), bad] }, 'layer-format', /mtime is not a valid time/);
      assert.equal(err.code, 'IMAGE');
      assert.equal(err.details.layer, 1, `${mtime} ${entry.name}`);
    }
  }
});

test('a valid but extreme pax mtime is applied, clamped by the kernel', async (t) => {
  const a = arena(t);
  writeLayout(a.layout, { layers: [Buffer.concat([paxHeader({ mtime: '-8000000000000' }), tarEntry({ name: 'f', data: 'x' }), paxHeader({ mtime: '1e12' }), tarEntry({ name: 'g', data: 'y' }), Buffer.alloc(1024)])] });
  const store = new ImageStore(a.store);
  const [r] = await store.import(a.layout, { policy: acceptAll });
  assert.equal(fs.readFileSync(path.join(store.load(r!.digest).rootfs, 'g'), 'utf8'), 'y');
});
