/**
 * The store and the CLI with real tools: a busybox rootfs packed by umoci (gzip) and by skopeo
 * (zstd), signed (`sandbox image sign`, and a cosign-v3-style keyless bundle), imported, listed,
 * inspected, run from (chroot in a user namespace until `exec --image` exists), removed.
 * Also: two importers at once, a crash mid-import, rootless defaults, progress output.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ImageStore, parseTrustPolicy, prepareRunImage } from '../../src/image/index.js';
import { attachBundle } from '../../src/image/sign.js';
import {
  CLI,
  busyboxRootfs,
  cosignStatement,
  ecKeyPair,
  makeBundle,
  makeCA,
  makeLog,
  runCli,
  skopeoCopy,
  tempDir,
  umociLayout,
  writeFile,
  writeLayout,
  makeTar,
} from './helpers.js';

/** Runs a command from the unpacked image: chroot inside a user namespace (root not required). */
function runInRootfs(rootfs: string, cmd: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('unshare', ['-r', 'chroot', rootfs, ...cmd], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('umoci layout, signed with `sandbox image sign`, imported and run; then ls, inspect, rm', async (t) => {
  const dir = tempDir(t);
  const rootfs = busyboxRootfs(path.join(dir, 'rootfs'));
  const layout = path.join(dir, 'busybox');
  umociLayout(rootfs, layout, 'v1', dir);
  const key = ecKeyPair();
  const keyFile = writeFile(dir, 'cosign.key', key.privatePem);
  const pubFile = writeFile(dir, 'cosign.pub', key.publicPem);
  const policy = writeFile(dir, 'trust.json', JSON.stringify({ default: [{ type: 'reject' }], scopes: { busybox: [{ type: 'sigstoreSigned', keyPath: pubFile }] } }));
  const store = path.join(dir, 'store');
  const common = ['--store', store, '--trust-policy', policy];

  // Unsigned: refused with exit 125 and the reason, nothing imported.
  const unsigned = runCli(['image', 'import', layout, ...common]);
  assert.equal(unsigned.status, 125, unsigned.stderr);
  assert.match(unsigned.stderr, /has no signature.*\(unsigned\) \[TRUST\]/);
  assert.equal(unsigned.stderr.trim().split('\n').length, 1, 'one line');

  const signed = runCli(['image', 'sign', '--key', keyFile, `${layout}:v1`]);
  assert.equal(signed.status, 0, signed.stderr);
  const sig = JSON.parse(signed.stdout);
  assert.match(sig.manifest, /^sha256:[0-9a-f]{64}$/);

  const verified = runCli(['image', 'verify', `${layout}:v1`, '--trust-policy', policy, '--require-signature']);
  assert.equal(verified.status, 0, verified.stderr);
  assert.equal(JSON.parse(verified.stdout).digest, sig.manifest);

  const imp = runCli(['image', 'import', layout, ...common, '--require-signature']);
  assert.equal(imp.status, 0, imp.stderr);
  const res = JSON.parse(imp.stdout);
  assert.deepEqual([res.ref, res.digest, res.reused], ['busybox:v1', sig.manifest, false]);
  assert.equal(imp.stderr, '', 'quiet when stderr is not a terminal');

  const ls = runCli(['image', 'ls', '--store', store]);
  assert.equal(ls.status, 0, ls.stderr);
  const listed = ls.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(listed.map((i) => [i.digest, i.refs, i.signatures]), [[sig.manifest, ['busybox:v1'], 1]]);

  const inspect = runCli(['image', 'inspect', 'busybox:v1', '--store', store]);
  assert.equal(inspect.status, 0, inspect.stderr);
  const info = JSON.parse(inspect.stdout);
  assert.deepEqual(info.config.config.cmd, ['/bin/busybox', 'echo', 'hi']);
  assert.ok(info.config.config.env.includes('GREETING=hello'));

  const run = await prepareRunImage('busybox:v1', { storeRoot: store, trustPolicyPath: policy, requireSignature: true });
  assert.equal(run.rootfs, info.rootfs);
  const out = runInRootfs(run.rootfs, [...run.config.cmd]);
  assert.equal(out.status, 0, out.stderr);
  assert.equal(out.stdout, 'hi\n');
  assert.equal(fs.readFileSync(path.join(run.rootfs, 'etc/motd'), 'utf8'), 'hello from the image\n');

  const verifyStored = runCli(['image', 'verify', 'busybox:v1', ...common, '--require-signature']);
  assert.equal(verifyStored.status, 0, verifyStored.stderr);

  const rm = runCli(['image', 'rm', 'busybox:v1', '--store', store]);
  assert.equal(rm.status, 0, rm.stderr);
  assert.deepEqual(JSON.parse(rm.stdout), { removedRefs: ['busybox:v1'], removedImage: sig.manifest });
  assert.equal(runCli(['image', 'ls', '--store', store]).stdout, '');
  assert.deepEqual(fs.readdirSync(path.join(store, 'images')), []);
  assert.deepEqual(fs.readdirSync(path.join(store, 'tmp')), []);
  const gone = runCli(['image', 'inspect', 'busybox:v1', '--store', store]);
  assert.equal(gone.status, 125);
  assert.match(gone.stderr, /no image busybox:v1/);
});

test('skopeo layout (zstd layers) with a cosign-v3-style keyless signature imports and runs', async (t) => {
  const dir = tempDir(t);
  const rootfs = busyboxRootfs(path.join(dir, 'rootfs'));
  umociLayout(rootfs, path.join(dir, 'umoci'), 'v2', dir);
  const layout = path.join(dir, 'skopeo-bb');
  skopeoCopy(path.join(dir, 'umoci'), layout, 'v2');
  const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
  const desc = index.manifests[0];
  const manifest = JSON.parse(fs.readFileSync(path.join(layout, 'blobs/sha256', desc.digest.slice(7)), 'utf8'));
  assert.equal(manifest.layers[0].mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');

  const ca = makeCA(dir);
  const log = makeLog();
  const signer = ecKeyPair();
  const cert = ca.issue(signer, { email: 'builder@example.com' }, 'https://issuer.test');
  attachBundle(layout, desc, makeBundle({ content: { kind: 'dsse', statement: cosignStatement(desc.digest) }, signer, certDer: cert, log }), 'dsse-envelope');
  const policy = writeFile(dir, 'trust.json', JSON.stringify({
    default: [{
      type: 'sigstoreSigned',
      fulcio: { caPath: ca.certFile, oidcIssuer: 'https://issuer.test', subjectEmail: 'builder@example.com' },
      rekorPublicKeyPath: writeFile(dir, 'rekor.pub', log.key.publicPem),
    }],
  }));
  const store = path.join(dir, 'store');
  const imp = runCli(['image', 'import', layout, '--name', 'bb', '--store', store, '--trust-policy', policy, '--require-signature']);
  assert.equal(imp.status, 0, imp.stderr);
  assert.equal(JSON.parse(imp.stdout).ref, 'bb:v2');
  const run = await prepareRunImage('bb:v2', { storeRoot: store, trustPolicyPath: policy, requireSignature: true });
  const out = runInRootfs(run.rootfs, ['/bin/sh', '-c', 'echo from $(cat /etc/motd)']);
  assert.equal(out.stdout, 'from hello from the image\n', out.stderr);
});

test('two importers of the same image at once: one unpacks, the other waits and reuses', async (t) => {
  const dir = tempDir(t);
  const big = randomBytes(24 << 20); // enough work that the two runs overlap
  const layout = writeLayout(path.join(dir, 'app'), { layers: [makeTar([{ name: 'big', data: big }, ...Array.from({ length: 2000 }, (_, i) => ({ name: `many/f${i}`, data: String(i) }))])] });
  const policy = writeFile(dir, 'trust.json', '{"default":[{"type":"insecureAcceptAnything"}]}');
  const store = path.join(dir, 'store');
  const start = () =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [CLI, 'image', 'import', layout.dir, '--store', store, '--trust-policy', policy], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (c) => (stdout += c));
      p.stderr.on('data', (c) => (stderr += c));
      p.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  const [a, b] = await Promise.all([start(), start()]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const results = [JSON.parse(a.stdout), JSON.parse(b.stdout)];
  assert.deepEqual(results.map((r) => r.digest), [layout.manifestDigest, layout.manifestDigest]);
  assert.deepEqual(results.map((r) => r.reused).sort(), [false, true]);
  assert.deepEqual(fs.readdirSync(path.join(store, 'images')), [layout.manifestDigest.slice(7)]);
  assert.deepEqual(fs.readdirSync(path.join(store, 'tmp')), []);
  assert.deepEqual(fs.readdirSync(path.join(store, 'locks')), []);
});

test('a crash mid-import leaves no image visible; the next import cleans up and succeeds', async (t) => {
  const dir = tempDir(t);
  const files = Array.from({ length: 20000 }, (_, i) => ({ name: `d${i % 50}/f${i}`, data: 'x'.repeat(100) }));
  const layout = writeLayout(path.join(dir, 'app'), { layers: [makeTar(files)] });
  const policy = writeFile(dir, 'trust.json', '{"default":[{"type":"insecureAcceptAnything"}]}');
  const store = path.join(dir, 'store');
  const p = spawn(process.execPath, [CLI, 'image', 'import', layout.dir, '--store', store, '--trust-policy', policy], { stdio: 'ignore' });
  // Wait until the unpacker is writing files into its staging rootfs, then kill -9.
  const deadline = Date.now() + 60_000;
  let killedMidway = false;
  while (Date.now() < deadline) {
    const tmp = fs.existsSync(path.join(store, 'tmp')) ? fs.readdirSync(path.join(store, 'tmp')) : [];
    const rootfs = tmp.length ? path.join(store, 'tmp', tmp[0]!, layout.manifestDigest.slice(7), 'image', 'rootfs') : '';
    if (rootfs && fs.existsSync(path.join(rootfs, 'd0'))) {
      p.kill('SIGKILL');
      killedMidway = true;
      break;
    }
    await sleep(5);
  }
  await new Promise((r) => p.on('close', r));
  assert.ok(killedMidway, 'the importer was killed while unpacking');
  assert.deepEqual(fs.readdirSync(path.join(store, 'images')), [], 'no half image visible');
  assert.equal(fs.readdirSync(path.join(store, 'tmp')).length, 1, 'the crashed staging dir is left behind');
  assert.equal(runCli(['image', 'ls', '--store', store]).stdout, '');
  const again = runCli(['image', 'import', layout.dir, '--store', store, '--trust-policy', policy]);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).reused, false);
  assert.deepEqual(fs.readdirSync(path.join(store, 'tmp')), [], 'stale staging removed');
  assert.deepEqual(fs.readdirSync(path.join(store, 'locks')), []);
});

test('rootless: default store and trust policy follow XDG_DATA_HOME / XDG_CONFIG_HOME', async (t) => {
  const dir = tempDir(t);
  fs.chmodSync(dir, 0o755);
  const layout = writeLayout(path.join(dir, 'app'), { layers: [makeTar([{ name: 'ro/', type: '5', mode: 0o555 }, { name: 'ro/file', data: 'x', mode: 0o444 }])] });
  fs.mkdirSync(path.join(dir, 'config', 'sandbox'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'config', 'sandbox', 'trust.json'), '{"default":[{"type":"insecureAcceptAnything"}]}');
  fs.mkdirSync(path.join(dir, 'data'));
  const env = { XDG_DATA_HOME: path.join(dir, 'data'), XDG_CONFIG_HOME: path.join(dir, 'config'), HOME: dir };
  const asUser = process.getuid?.() === 0;
  if (asUser) spawnSync('chown', ['-R', 'sbxtest:sbxtest', dir]);
  const cli = (args: string[]) => {
    const cmd = asUser ? ['runuser', '-u', 'sbxtest', '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, CLI, ...args] : [process.execPath, CLI, ...args];
    const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', env: { ...process.env, ...env } });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const imp = cli(['image', 'import', layout.dir]);
  assert.equal(imp.status, 0, imp.stderr);
  const image = path.join(dir, 'data', 'sandbox', 'images', layout.manifestDigest.slice(7));
  assert.ok(fs.existsSync(path.join(image, 'rootfs', 'ro', 'file')));
  assert.equal(fs.statSync(path.join(image, 'rootfs', 'ro')).mode & 0o777, 0o555);
  if (asUser) assert.equal(fs.statSync(path.join(image, 'rootfs', 'ro', 'file')).uid, 1001, 'owned by the store owner');
  // A read-only directory tree can still be removed by its (non-root) owner.
  const rm = cli(['image', 'rm', 'app:latest']);
  assert.equal(rm.status, 0, rm.stderr);
  assert.equal(fs.existsSync(image), false);
});

test('progress bar on a terminal, nothing on stderr otherwise', async (t) => {
  const dir = tempDir(t);
  const layout = writeLayout(path.join(dir, 'app'), { layers: [makeTar([{ name: 'big', data: Buffer.alloc(8 << 20, 1) }])] });
  const policy = writeFile(dir, 'trust.json', '{"default":[{"type":"insecureAcceptAnything"}]}');
  const cmd = [process.execPath, CLI, 'image', 'import', layout.dir, '--store', path.join(dir, 'store'), '--trust-policy', policy].join(' ');
  // `script` gives the command a pseudo-terminal, as an interactive user would have.
  const tty = spawnSync('script', ['-qec', `${cmd} --json`, '/dev/null'], { encoding: 'utf8', env: { ...process.env, TERM: 'xterm' } });
  assert.equal(tty.status, 0, tty.stdout + tty.stderr);
  assert.match(tty.stdout, /import sha256:[0-9a-f]{12}/, 'progress label drawn');
  assert.match(tty.stdout, /"ref":"app:latest"/);
  const plain = spawnSync(process.execPath, cmd.split(' ').slice(1), { encoding: 'utf8' });
  assert.equal(plain.status, 0, plain.stderr);
  assert.equal(plain.stderr, '');
  assert.equal(JSON.parse(plain.stdout).reused, true);
});

test('layout digest references and bad references', async (t) => {
  const dir = tempDir(t);
  const layout = writeLayout(path.join(dir, 'app'), { layers: [makeTar([{ name: 'f', data: 'x' }])], tag: 'v1' });
  const store = new ImageStore(path.join(dir, 'store'));
  const policy = parseTrustPolicy(Buffer.from('{"default":[{"type":"insecureAcceptAnything"}]}'), 'p');
  await store.import(layout.dir, { policy, name: 'app' });
  assert.equal(store.resolve(`@${layout.manifestDigest}`).digest, layout.manifestDigest);
  assert.equal(store.resolve(`app@${layout.manifestDigest}`).name, 'app');
  assert.throws(() => store.resolve('app@sha256:../../etc'), /malformed digest/);
  assert.throws(() => store.resolve('App:v1'), /invalid image name/);
  assert.throws(() => store.resolve('app:v2'), /no image app:v2/);
});

test('a store others can write is refused by every command (a run does not re-hash the unpacked files)', (t) => {
  const base = tempDir(t);
  const refused = (dir: string, what: RegExp) => assert.throws(() => new ImageStore(dir), (e: unknown) => {
    assert.equal((e as { details?: { reason?: string } }).details?.reason, 'store-not-private', String(e));
    assert.match((e as Error).message, what);
    return true;
  });
  const open = path.join(base, 'open');
  new ImageStore(open); // made private (0700) by the store itself
  fs.chmodSync(path.join(open, 'images'), 0o777);
  refused(open, /images is not private to uid \d+ \(owner \d+, mode 777\)/);

  // someone else's store, e.g. root given `--store` in a user's directory
  const theirs = path.join(base, 'theirs');
  new ImageStore(theirs);
  fs.chownSync(theirs, 12345, 12345);
  refused(theirs, /theirs is not private to uid 0 \(owner 12345, mode 700\)/);

  const linked = path.join(base, 'linked');
  new ImageStore(linked);
  fs.renameSync(path.join(linked, 'refs'), path.join(base, 'refs-elsewhere'));
  fs.symlinkSync(path.join(base, 'refs-elsewhere'), path.join(linked, 'refs'));
  refused(linked, /refs is not private to uid \d+ \(not a directory\)/);
});
