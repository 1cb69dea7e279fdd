/**
 * Layout parsing: tampering with each kind of blob, malformed digests, media-type confusion and
 * duplicate JSON keys are refused with their reason, before any layer is unpacked (the store has
 * no image and an empty temp dir afterwards).
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ImageStore, parseTrustPolicy } from '../../src/image/index.js';
import { findDuplicateKey, parseStrictJson } from '../../src/image/strict-json.js';
import { SandboxError } from '../../src/errors.js';
import { MT, blobFile, busyboxTar, flipByte, makeTar, sha256hex, tempDir, writeBlob, writeLayout, type BuiltLayout } from './helpers.js';

const acceptAll = parseTrustPolicy(Buffer.from('{"default":[{"type":"insecureAcceptAnything"}]}'), 'test-policy.json');

function setup(t: TestContext): { base: string; layout: BuiltLayout; store: string } {
  const base = tempDir(t);
  const layout = writeLayout(path.join(base, 'layout'), { layers: [busyboxTar(), makeTar([{ name: 'etc/extra', data: 'x' }])], tag: 'v1' });
  return { base, layout, store: path.join(base, 'store') };
}

async function refused(storeDir: string, input: string, reason: string, blob?: string): Promise<SandboxError> {
  const store = new ImageStore(storeDir);
  const err = await store.import(input, { policy: acceptAll }).then(() => assert.fail(`accepted; expected ${reason}`), (e: unknown) => e);
  assert.ok(err instanceof SandboxError, String(err));
  assert.equal(err.code, 'IMAGE');
  assert.equal(err.details.reason, reason, err.message);
  if (blob) assert.equal(err.details.blob, blob);
  assert.deepEqual(fs.readdirSync(path.join(storeDir, 'images')), [], 'nothing unpacked');
  assert.deepEqual(fs.readdirSync(path.join(storeDir, 'tmp')), [], 'temp cleaned');
  return err;
}

/** Replaces the manifest by raw text (and points index.json at it). */
function rawManifest(layoutDir: string, text: string, mediaType = MT.manifest): string {
  const d = writeBlob(layoutDir, text);
  fs.writeFileSync(path.join(layoutDir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    mediaType: MT.index,
    manifests: [{ mediaType, ...d, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }],
  }));
  return d.digest;
}

function manifestObj(l: BuiltLayout): Record<string, any> {
  return JSON.parse(fs.readFileSync(blobFile(l.dir, l.manifestDigest), 'utf8'));
}

test('an untampered layout imports (baseline for the tamper tests)', async (t) => {
  const { layout, store } = setup(t);
  const [r] = await new ImageStore(store).import(layout.dir, { policy: acceptAll });
  assert.equal(r!.digest, layout.manifestDigest);
  assert.equal(r!.ref, 'layout:v1');
});

test('one flipped byte in the manifest blob is refused', async (t) => {
  const { layout, store } = setup(t);
  flipByte(blobFile(layout.dir, layout.manifestDigest));
  const e = await refused(store, layout.dir, 'digest-mismatch', layout.manifestDigest);
  assert.match(e.message, /tampered with or corrupted/);
});

test('one flipped byte in the config blob is refused', async (t) => {
  const { layout, store } = setup(t);
  flipByte(blobFile(layout.dir, layout.configDigest));
  await refused(store, layout.dir, 'digest-mismatch', layout.configDigest);
});

test('one flipped byte in a layer blob is refused before anything is unpacked', async (t) => {
  const { layout, store } = setup(t);
  flipByte(blobFile(layout.dir, layout.layerDigests[1]!));
  await refused(store, layout.dir, 'digest-mismatch', layout.layerDigests[1]);
});

test('one flipped byte in a nested image index blob is refused', async (t) => {
  const { base, layout, store } = setup(t);
  const nested = writeBlob(layout.dir, JSON.stringify({
    schemaVersion: 2,
    mediaType: MT.index,
    manifests: [{ mediaType: MT.manifest, digest: layout.manifestDigest, size: layout.manifestSize, platform: { os: 'linux', architecture: 'amd64' } }],
  }));
  fs.writeFileSync(path.join(layout.dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: MT.index, ...nested, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }],
  }));
  // Untampered, the nested index resolves to the manifest for this platform.
  const [ok] = await new ImageStore(path.join(base, 'store-ok')).import(layout.dir, { policy: acceptAll });
  assert.equal(ok!.digest, layout.manifestDigest);
  flipByte(blobFile(layout.dir, nested.digest), 20);
  await refused(store, layout.dir, 'digest-mismatch', nested.digest);
});

test('one changed byte of the manifest digest in index.json is refused', async (t) => {
  const { layout, store } = setup(t);
  const file = path.join(layout.dir, 'index.json');
  const text = fs.readFileSync(file, 'utf8');
  const last = layout.manifestDigest.slice(-1);
  fs.writeFileSync(file, text.replace(layout.manifestDigest, layout.manifestDigest.slice(0, -1) + (last === '0' ? '1' : '0')));
  await refused(store, layout.dir, 'blob-missing');
});

test('a descriptor size that does not match the blob is refused', async (t) => {
  const { layout, store } = setup(t);
  const m = manifestObj(layout);
  m.layers[0].size += 1;
  rawManifest(layout.dir, JSON.stringify(m));
  await refused(store, layout.dir, 'size-mismatch', layout.layerDigests[0]);
});

test('a blob that is a symlink is refused (O_NOFOLLOW)', async (t) => {
  const { layout, store } = setup(t);
  const f = blobFile(layout.dir, layout.configDigest);
  fs.renameSync(f, f + '.real');
  fs.symlinkSync(f + '.real', f);
  await refused(store, layout.dir, 'blob-symlink', layout.configDigest);
});

test('a blob that is a FIFO is refused without blocking', async (t) => {
  const { layout, store } = setup(t);
  const f = blobFile(layout.dir, layout.configDigest);
  fs.rmSync(f);
  const { execFileSync } = await import('node:child_process');
  execFileSync('mkfifo', [f]);
  await refused(store, layout.dir, 'blob-not-regular', layout.configDigest);
});

test('malformed digest sha256:../../x in a layer descriptor is refused', async (t) => {
  const { layout, store } = setup(t);
  const m = manifestObj(layout);
  m.layers[0].digest = 'sha256:../../x';
  rawManifest(layout.dir, JSON.stringify(m));
  const e = await refused(store, layout.dir, 'malformed-digest');
  assert.match(e.message, /sha256:\.\.\/\.\.\/x.*malformed digest/);
});

test('malformed digest sha256:../../x in index.json is refused', async (t) => {
  const { layout, store } = setup(t);
  fs.writeFileSync(path.join(layout.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MT.manifest, digest: 'sha256:../../x', size: 10 }] }));
  await refused(store, layout.dir, 'malformed-digest');
});

test('upper-case and other-algorithm digests are refused', async (t) => {
  const { layout, store } = setup(t);
  const m = manifestObj(layout);
  m.config.digest = m.config.digest.toUpperCase().replace('SHA256', 'sha256');
  rawManifest(layout.dir, JSON.stringify(m));
  await refused(store, layout.dir, 'malformed-digest');
  const m2 = manifestObj(layout);
  m2.config.digest = 'sha512:' + 'a'.repeat(128);
  rawManifest(layout.dir, JSON.stringify(m2));
  await refused(store, layout.dir, 'malformed-digest');
});

test('a document that is both an index and a manifest is refused', async (t) => {
  const { layout, store } = setup(t);
  const m = manifestObj(layout);
  m.manifests = [];
  rawManifest(layout.dir, JSON.stringify(m));
  const e = await refused(store, layout.dir, 'ambiguous-document');
  assert.match(e.message, /both an index.*and a manifest/);
});

test('a manifest whose own mediaType says index is refused', async (t) => {
  const { layout, store } = setup(t);
  const m = manifestObj(layout);
  m.mediaType = MT.index;
  rawManifest(layout.dir, JSON.stringify(m));
  await refused(store, layout.dir, 'media-type');
});

test('a manifest referenced as an index is refused', async (t) => {
  const { layout, store } = setup(t);
  rawManifest(layout.dir, JSON.stringify(manifestObj(layout)), MT.index);
  await refused(store, layout.dir, 'media-type');
});

test('a config descriptor with a layer media type is refused', async (t) => {
  const { layout, store } = setup(t);
  const m = manifestObj(layout);
  m.config.mediaType = MT.gzip;
  rawManifest(layout.dir, JSON.stringify(m));
  await refused(store, layout.dir, 'media-type');
});

test('a layer of an unknown media type (e.g. a Docker foreign layer) is refused', async (t) => {
  const { layout, store } = setup(t);
  const m = manifestObj(layout);
  m.layers[0].mediaType = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';
  rawManifest(layout.dir, JSON.stringify(m));
  await refused(store, layout.dir, 'media-type');
});

test('a descriptor without a media type is refused', async (t) => {
  const { layout, store } = setup(t);
  const m = manifestObj(layout);
  delete m.layers[0].mediaType;
  rawManifest(layout.dir, JSON.stringify(m));
  await refused(store, layout.dir, 'media-type');
});

test('duplicate keys in a manifest are refused', async (t) => {
  const { layout, store } = setup(t);
  const m = manifestObj(layout);
  const evil = JSON.stringify(m).replace('"layers":', `"layers":${JSON.stringify(m.layers.slice(1))},"layers":`);
  rawManifest(layout.dir, evil);
  const e = await refused(store, layout.dir, 'duplicate-key');
  assert.match(e.message, /duplicate JSON key "layers"/);
});

test('duplicate keys in index.json are refused', async (t) => {
  const { layout, store } = setup(t);
  const file = path.join(layout.dir, 'index.json');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('{"schemaVersion":2,', '{"schemaVersion":2,"schemaVersion":2,'));
  await refused(store, layout.dir, 'duplicate-key');
});

test('duplicate keys in a config (Entrypoint twice) are refused', async (t) => {
  const base = tempDir(t);
  const tar = makeTar([{ name: 'f', data: 'x' }]);
  const layout = writeLayout(path.join(base, 'layout'), { layers: [tar] });
  const cfg = `{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/true"],"Entrypoint":["/bin/evil"]},"rootfs":{"type":"layers","diff_ids":["sha256:${sha256hex(tar)}"]}}`;
  const m = manifestObj(layout);
  m.config = { mediaType: MT.config, ...writeBlob(layout.dir, cfg) };
  rawManifest(layout.dir, JSON.stringify(m), MT.manifest);
  fs.writeFileSync(path.join(layout.dir, 'index.json'), fs.readFileSync(path.join(layout.dir, 'index.json'), 'utf8').replace('"v1"', '"latest"'));
  await refused(path.join(base, 'store'), layout.dir, 'duplicate-key');
});

test('strict JSON: keys equal after unescaping are duplicates; nested objects are separate scopes', () => {
  assert.equal(findDuplicateKey('{"a":1,"\\u0061":2}'), 'a');
  assert.equal(findDuplicateKey('{"a":{"a":1},"b":[{"a":1},{"a":2}]}'), undefined);
  assert.equal(findDuplicateKey('{"x":"\\"a\\":1,\\"a\\":2"}'), undefined);
  assert.equal(findDuplicateKey('[{"k":1,"k":1}]'), 'k');
  assert.throws(() => parseStrictJson(Buffer.from([0x7b, 0xff, 0x7d]), 'blob'), /not valid UTF-8/);
});

test('a layout given as a tar imports; a tar with a symlink entry is refused', async (t) => {
  const { base, layout, store } = setup(t);
  const { execFileSync } = await import('node:child_process');
  const tarFile = path.join(base, 'layout.tar');
  execFileSync('tar', ['-C', layout.dir, '-cf', tarFile, '.']);
  const [r] = await new ImageStore(store).import(tarFile, { policy: acceptAll, name: 'fromtar' });
  assert.equal(r!.digest, layout.manifestDigest);
  assert.equal(r!.ref, 'fromtar:v1');
  fs.symlinkSync('/etc/passwd', path.join(layout.dir, 'blobs', 'sha256', 'a'.repeat(64)));
  const evilTar = path.join(base, 'evil.tar');
  execFileSync('tar', ['-C', layout.dir, '-cf', evilTar, '.']);
  await refused(path.join(base, 'store2'), evilTar, 'unsafe-path');
});
