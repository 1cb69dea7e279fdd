/**
 * Signatures and trust policy, end to end through import (checked before any layer is unpacked)
 * and prepareRunImage (re-checked by digest). Keys, a CA and a transparency log are made here.
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ImageStore, parseTrustPolicy, prepareRunImage, signLayout } from '../../src/image/index.js';
import { attachBundle } from '../../src/image/sign.js';
import { requirementsFor } from '../../src/image/trust-policy.js';
import { SandboxError } from '../../src/errors.js';
import {
  blobFile,
  busyboxTar,
  cosignStatement,
  ecKeyPair,
  flipByte,
  makeBundle,
  makeCA,
  makeLog,
  tempDir,
  trustedRootJson,
  writeFile,
  writeLayout,
  MT,
  type BuiltLayout,
  type KeyPair,
  type TestCA,
  type TestLog,
} from './helpers.js';

const ISSUER = 'https://issuer.test';
const EMAIL = 'alice@example.com';

interface World {
  dir: string;
  layout: BuiltLayout;
  store: string;
  key: KeyPair;
  ca: TestCA;
  log: TestLog;
  policy(obj: unknown): string;
}

/** PKI is made once per file (openssl is slow-ish); each test gets fresh dirs. */
const pkiDir = fs.mkdtempSync('/tmp/sbx-pki-');
process.on('exit', () => fs.rmSync(pkiDir, { recursive: true, force: true }));
const CA = makeCA(pkiDir);
const OTHER_CA = makeCA(pkiDir, 'Other CA');
const LOG = makeLog();

function world(t: TestContext): World {
  const dir = tempDir(t);
  const layout = writeLayout(path.join(dir, 'app'), { layers: [busyboxTar()], tag: 'v1' });
  let n = 0;
  return {
    dir,
    layout,
    store: path.join(dir, 'store'),
    key: ecKeyPair(),
    ca: CA,
    log: LOG,
    policy: (obj) => writeFile(dir, `trust${n++}.json`, JSON.stringify(obj)),
  };
}

function keyedPolicy(w: World, pub = w.key.publicPem): string {
  return w.policy({ default: [{ type: 'reject' }], scopes: { app: [{ type: 'sigstoreSigned', keyPath: writeFile(w.dir, 'cosign.pub', pub) }] } });
}

function keylessPolicy(w: World, fulcio: Record<string, unknown> = {}): string {
  return w.policy({
    default: [{ type: 'reject' }],
    scopes: {
      app: [{
        type: 'sigstoreSigned',
        fulcio: { caPath: w.ca.certFile, oidcIssuer: ISSUER, subjectEmail: EMAIL, ...fulcio },
        rekorPublicKeyPath: writeFile(w.dir, 'rekor.pub', w.log.key.publicPem),
      }],
    },
  });
}

async function importWith(w: World, policyFile: string, requireSignature = false) {
  const store = new ImageStore(w.store);
  return store.import(w.layout.dir, { policy: parseTrustPolicy(fs.readFileSync(policyFile), policyFile), requireSignature });
}

async function expectTrustRefusal(w: World, policyFile: string, reason: string, message?: RegExp): Promise<SandboxError> {
  const err = await importWith(w, policyFile, true).then(() => assert.fail(`accepted; expected ${reason}`), (e: unknown) => e);
  assert.ok(err instanceof SandboxError, String(err));
  assert.equal(err.code, 'TRUST', err.message);
  assert.equal(err.details.reason, reason, err.message);
  if (message) assert.match(err.message, message);
  // Refused before any layer was unpacked: nothing in the store, temp dir empty.
  assert.deepEqual(fs.readdirSync(path.join(w.store, 'images')), []);
  assert.deepEqual(fs.readdirSync(path.join(w.store, 'tmp')), []);
  return err;
}

function subject(w: World) {
  return { mediaType: MT.manifest, digest: w.layout.manifestDigest, size: w.layout.manifestSize };
}

function attachKeyless(w: World, opts: { cert?: Buffer; statement?: Record<string, unknown>; integratedTime?: number; noLog?: boolean; version?: 'v0.1' | 'v0.3' } = {}): void {
  const signer = ecKeyPair();
  const cert = opts.cert ?? w.ca.issue(signer, { email: EMAIL }, ISSUER);
  const bundle = makeBundle({
    content: { kind: 'dsse', statement: opts.statement ?? cosignStatement(w.layout.manifestDigest) },
    signer: opts.cert ? w.key : signer,
    certDer: cert,
    ...(opts.noLog ? {} : { log: w.log }),
    ...(opts.integratedTime ? { integratedTime: opts.integratedTime } : {}),
    ...(opts.version ? { version: opts.version } : {}),
  });
  attachBundle(w.layout.dir, subject(w), bundle, 'dsse-envelope');
}

// ------------------------------------------------------------------ keyed

test('keyed: `image sign` then import and run-prepare under a policy naming the key', async (t) => {
  const w = world(t);
  const r = signLayout(w.layout.dir, 'v1', w.key.privateKey);
  assert.equal(r.manifestDigest, w.layout.manifestDigest);
  const policy = keyedPolicy(w);
  const [res] = await importWith(w, policy, true);
  assert.equal(res!.digest, w.layout.manifestDigest);
  assert.deepEqual(res!.trust.satisfied, ['sigstoreSigned(key)']);
  const run = await prepareRunImage('app:v1', { storeRoot: w.store, trustPolicyPath: policy, requireSignature: true });
  assert.equal(run.digest, w.layout.manifestDigest);
  assert.ok(fs.statSync(path.join(run.rootfs, 'bin', 'busybox')).isFile());
  assert.deepEqual(run.config.cmd, ['/bin/busybox', 'echo', 'hi']);
});

test('keyed: a layout whose second tag is unsigned imports neither tag (the first one was imported before)', async (t) => {
  const w = world(t);
  signLayout(w.layout.dir, 'v1', w.key.privateKey);
  // a second, unsigned image under tag v2, merged into the same layout
  const other = writeLayout(path.join(w.dir, 'other'), { layers: [busyboxTar()], tag: 'v2', editConfig: (c) => { c['config'] = { Env: ['OTHER=1'] }; } });
  for (const f of fs.readdirSync(path.join(other.dir, 'blobs', 'sha256'))) {
    fs.copyFileSync(path.join(other.dir, 'blobs', 'sha256', f), path.join(w.layout.dir, 'blobs', 'sha256', f));
  }
  const index = JSON.parse(fs.readFileSync(path.join(w.layout.dir, 'index.json'), 'utf8')) as { manifests: unknown[] };
  index.manifests.push(...(JSON.parse(fs.readFileSync(path.join(other.dir, 'index.json'), 'utf8')) as { manifests: unknown[] }).manifests);
  fs.writeFileSync(path.join(w.layout.dir, 'index.json'), JSON.stringify(index));
  const store = new ImageStore(w.store);
  const err = await store.import(w.layout.dir, { policy: parseTrustPolicy(fs.readFileSync(keyedPolicy(w)), 'p.json'), name: 'app' })
    .then(() => assert.fail('accepted'), (e: unknown) => e as SandboxError);
  assert.equal(err.code, 'TRUST', err.message);
  assert.match(err.message, /v2|has no signature/);
  assert.deepEqual(fs.readdirSync(path.join(w.store, 'refs')), [], 'no tag was imported');
  assert.deepEqual(fs.readdirSync(path.join(w.store, 'images')), []);
});

test('keyed: an unsigned image is refused before unpacking', async (t) => {
  const w = world(t);
  await expectTrustRefusal(w, keyedPolicy(w), 'unsigned', /has no signature/);
});

test('keyed: signed with another key is refused', async (t) => {
  const w = world(t);
  signLayout(w.layout.dir, 'v1', ecKeyPair().privateKey);
  await expectTrustRefusal(w, keyedPolicy(w), 'signature-invalid', /does not verify with any trusted key/);
});

test('keyed: the bundle key hint is ignored (attacker key with the trusted key hint)', async (t) => {
  const w = world(t);
  const attacker = ecKeyPair();
  const bundle = JSON.parse(makeBundle({ content: { kind: 'dsse', statement: cosignStatement(w.layout.manifestDigest) }, signer: attacker }));
  bundle.verificationMaterial.publicKey.hint = JSON.parse(makeBundle({ content: { kind: 'message', artifact: Buffer.from('x') }, signer: w.key })).verificationMaterial.publicKey.hint;
  attachBundle(w.layout.dir, subject(w), JSON.stringify(bundle), 'dsse-envelope');
  await expectTrustRefusal(w, keyedPolicy(w), 'signature-invalid');
});

test('keyed: a message signature over the manifest is accepted', async (t) => {
  const w = world(t);
  const manifest = fs.readFileSync(blobFile(w.layout.dir, w.layout.manifestDigest));
  attachBundle(w.layout.dir, subject(w), makeBundle({ content: { kind: 'message', artifact: manifest }, signer: w.key }), 'message-signature');
  const [res] = await importWith(w, keyedPolicy(w), true);
  assert.equal(res!.digest, w.layout.manifestDigest);
});

test('keyed: a message signature over other bytes is refused', async (t) => {
  const w = world(t);
  attachBundle(w.layout.dir, subject(w), makeBundle({ content: { kind: 'message', artifact: Buffer.from('{"other":"manifest"}') }, signer: w.key }), 'message-signature');
  await expectTrustRefusal(w, keyedPolicy(w), 'digest-mismatch');
});

test('keyed: DSSE whose subject is another digest is refused (CVE-2022-35929 class)', async (t) => {
  const w = world(t);
  const other = 'sha256:' + 'ab'.repeat(32);
  attachBundle(w.layout.dir, subject(w), makeBundle({ content: { kind: 'dsse', statement: cosignStatement(other) }, signer: w.key }), 'dsse-envelope');
  await expectTrustRefusal(w, keyedPolicy(w), 'subject-mismatch', /does not name sha256:[0-9a-f]{64} as a subject/);
});

test('keyed: DSSE with the wrong predicateType is refused', async (t) => {
  const w = world(t);
  attachBundle(w.layout.dir, subject(w), makeBundle({ content: { kind: 'dsse', statement: cosignStatement(w.layout.manifestDigest, 'https://slsa.dev/provenance/v1') }, signer: w.key }), 'dsse-envelope');
  await expectTrustRefusal(w, keyedPolicy(w), 'predicate-type');
});

test('keyed: DSSE with a payloadType other than in-toto is refused', async (t) => {
  const w = world(t);
  attachBundle(w.layout.dir, subject(w), makeBundle({ content: { kind: 'dsse', statement: cosignStatement(w.layout.manifestDigest), payloadType: 'application/json' }, signer: w.key }), 'dsse-envelope');
  await expectTrustRefusal(w, keyedPolicy(w), 'payload-type');
});

test('keyed: a tampered signature blob in the layout is refused as tampering', async (t) => {
  const w = world(t);
  const r = signLayout(w.layout.dir, 'v1', w.key.privateKey);
  flipByte(blobFile(w.layout.dir, r.bundleDigest));
  const err = await importWith(w, keyedPolicy(w), true).then(() => assert.fail('accepted'), (e: SandboxError) => e);
  assert.equal(err.details.reason, 'digest-mismatch');
  assert.equal(err.details.blob, r.bundleDigest);
});

test('keyed with a log: a tlog key whose validity has ended (expired key) is refused', async (t) => {
  const w = world(t);
  const bundle = makeBundle({ content: { kind: 'dsse', statement: cosignStatement(w.layout.manifestDigest) }, signer: w.key, log: w.log, version: 'v0.1' });
  attachBundle(w.layout.dir, subject(w), bundle, 'dsse-envelope');
  const root = writeFile(w.dir, 'expired-root.json', trustedRootJson({ log: w.log, logValidFor: { start: '2020-01-01T00:00:00Z', end: '2021-01-01T00:00:00Z' } }));
  const pub = writeFile(w.dir, 'k.pub', w.key.publicPem);
  const policy = w.policy({ default: [{ type: 'sigstoreSigned', keyPath: pub, trustedRootPath: root }] });
  await expectTrustRefusal(w, policy, 'tlog-invalid', /inclusion promise could not be verified/);
  // The same bundle with a currently valid log key is accepted.
  const okRoot = writeFile(w.dir, 'ok-root.json', trustedRootJson({ log: w.log }));
  const [res] = await importWith(w, w.policy({ default: [{ type: 'sigstoreSigned', keyPath: pub, trustedRootPath: okRoot }] }), true);
  assert.equal(res!.digest, w.layout.manifestDigest);
});

test('keyed: a sidecar bundle file (not attached to the layout) is accepted on import and re-checked at run time', async (t) => {
  const w = world(t);
  const sidecar = writeFile(w.dir, 'app.sigstore.json', makeBundle({ content: { kind: 'dsse', statement: cosignStatement(w.layout.manifestDigest) }, signer: w.key }));
  const policyFile = keyedPolicy(w);
  const store = new ImageStore(w.store);
  const [res] = await store.import(w.layout.dir, { policy: parseTrustPolicy(fs.readFileSync(policyFile), policyFile), requireSignature: true, bundles: [sidecar] });
  assert.equal(res!.digest, w.layout.manifestDigest);
  const run = await prepareRunImage('app:v1', { storeRoot: w.store, trustPolicyPath: policyFile, requireSignature: true });
  assert.equal(run.digest, w.layout.manifestDigest);
});

// ------------------------------------------------------------------ keyless

test('keyless: valid (own CA + own log key), v0.3 bundle with inclusion proof', async (t) => {
  const w = world(t);
  attachKeyless(w);
  const policy = keylessPolicy(w);
  const [res] = await importWith(w, policy, true);
  assert.match(res!.trust.satisfied[0]!, /keyless alice@example\.com/);
  const run = await prepareRunImage(`app@${w.layout.manifestDigest}`, { storeRoot: w.store, trustPolicyPath: policy, requireSignature: true });
  assert.equal(run.digest, w.layout.manifestDigest);
});

test('keyless: valid with a trusted_root.json (v0.1 bundle, inclusion promise)', async (t) => {
  const w = world(t);
  attachKeyless(w, { version: 'v0.1' });
  const root = writeFile(w.dir, 'trusted_root.json', trustedRootJson({ ca: w.ca, log: w.log }));
  const policy = w.policy({ default: [{ type: 'sigstoreSigned', fulcio: { oidcIssuer: ISSUER, subjectEmail: EMAIL }, trustedRootPath: root }] });
  const [res] = await importWith(w, policy, true);
  assert.equal(res!.digest, w.layout.manifestDigest);
});

test('keyless: wrong identity is refused', async (t) => {
  const w = world(t);
  attachKeyless(w, { cert: w.ca.issue(w.key, { email: 'mallory@example.com' }, ISSUER) });
  await expectTrustRefusal(w, keylessPolicy(w), 'identity-mismatch', /"mallory@example.com" is not exactly "alice@example.com"/);
});

test('keyless: an identity that merely contains the expected one is refused (exact match, not regex)', async (t) => {
  const w = world(t);
  attachKeyless(w, { cert: w.ca.issue(w.key, { email: 'xalice@example.com.evil.test' }, ISSUER) });
  await expectTrustRefusal(w, keylessPolicy(w), 'identity-mismatch');
});

test('keyless: a URI identity does not satisfy an email policy', async (t) => {
  const w = world(t);
  attachKeyless(w, { cert: w.ca.issue(w.key, { uri: 'https://github.com/alice@example.com' }, ISSUER) });
  await expectTrustRefusal(w, keylessPolicy(w), 'identity-mismatch');
});

test('keyless: wrong issuer is refused', async (t) => {
  const w = world(t);
  attachKeyless(w, { cert: w.ca.issue(w.key, { email: EMAIL }, 'https://evil-issuer.test') });
  await expectTrustRefusal(w, keylessPolicy(w), 'issuer-mismatch', /evil-issuer/);
});

test('keyless: certificate expired at the log timestamp (expired key) is refused', async (t) => {
  const w = world(t);
  attachKeyless(w, { integratedTime: Math.floor(Date.now() / 1000) + 3 * 86400 });
  await expectTrustRefusal(w, keylessPolicy(w), 'certificate-invalid', /expired/);
});

test('keyless: certificate from another CA is refused', async (t) => {
  const w = world(t);
  attachKeyless(w, { cert: OTHER_CA.issue(w.key, { email: EMAIL }, ISSUER) });
  await expectTrustRefusal(w, keylessPolicy(w), 'certificate-invalid');
});

test('keyless: a bundle without any verified timestamp is refused', async (t) => {
  const w = world(t);
  attachKeyless(w, { noLog: true });
  await expectTrustRefusal(w, keylessPolicy(w), 'timestamp-invalid', /expected 1 timestamps, got 0/);
});

test('keyless: a log entry signed by an unknown log is refused', async (t) => {
  const w = world(t);
  const signer = ecKeyPair();
  const bundle = makeBundle({ content: { kind: 'dsse', statement: cosignStatement(w.layout.manifestDigest) }, signer, certDer: w.ca.issue(signer, { email: EMAIL }, ISSUER), log: makeLog('rogue.test') });
  attachBundle(w.layout.dir, subject(w), bundle, 'dsse-envelope');
  await expectTrustRefusal(w, keylessPolicy(w), 'tlog-invalid');
});

test('keyless: a trusted root entry without validFor.start is refused', async (t) => {
  const w = world(t);
  attachKeyless(w);
  const root = JSON.parse(trustedRootJson({ ca: w.ca, log: w.log }));
  delete root.certificateAuthorities[0].validFor;
  const rootFile = writeFile(w.dir, 'no-start.json', JSON.stringify(root));
  const policy = w.policy({ default: [{ type: 'sigstoreSigned', fulcio: { oidcIssuer: ISSUER, subjectEmail: EMAIL }, trustedRootPath: rootFile }] });
  const err = await expectTrustRefusal(w, policy, 'trusted-root-invalid');
  assert.match(err.message, /certificateAuthorities\[0\] has no validFor.start/);
});

// ------------------------------------------------------------------ policy

test('policy: unknown fields reject the whole file', () => {
  assert.throws(() => parseTrustPolicy(Buffer.from('{"default":[{"type":"insecureAcceptAnything"}],"transport":{}}'), 'p.json'), (e: SandboxError) => e.code === 'TRUST' && e.details.reason === 'policy-invalid');
  assert.throws(() => parseTrustPolicy(Buffer.from('{"default":[{"type":"sigstoreSigned","keyPath":"/k","signedIdentity":{}}]}'), 'p.json'), /must NOT have additional properties|must match exactly one schema/);
  assert.throws(() => parseTrustPolicy(Buffer.from('{"default":[{"type":"sigstoreSigned","keyPath":"/k","fulcio":{"oidcIssuer":"x","subjectEmail":"a"}}]}'), 'p.json'), /exactly one of keyPath/);
  assert.throws(() => parseTrustPolicy(Buffer.from('{"default":[{"type":"sigstoreSigned","fulcio":{"oidcIssuer":"x","subjectEmail":"a"}}]}'), 'p.json'), /needs fulcio.caPath/);
  assert.throws(() => parseTrustPolicy(Buffer.from('{"default":[]}'), 'p.json'), /policy-invalid|must NOT have fewer than 1 items/);
  assert.throws(() => parseTrustPolicy(Buffer.from('{"default":[{"type":"reject"}],"default":[{"type":"insecureAcceptAnything"}]}'), 'p.json'), /duplicate JSON key "default"/);
});

test('policy: reject, scope precedence, and strict mode refusing accept-anything', async (t) => {
  const w = world(t);
  await expectTrustRefusal(w, w.policy({ default: [{ type: 'insecureAcceptAnything' }], scopes: { 'app:v1': [{ type: 'reject' }] } }), 'rejected');
  await expectTrustRefusal(w, w.policy({ default: [{ type: 'reject' }], scopes: { app: [{ type: 'insecureAcceptAnything' }] } }), 'signature-required');
  const [res] = await importWith(w, w.policy({ default: [{ type: 'reject' }], scopes: { app: [{ type: 'insecureAcceptAnything' }] } }), false);
  assert.equal(res!.trust.scope, 'app');
});

test('run-time re-check: an image imported under a lax policy is refused by a strict one', async (t) => {
  const w = world(t);
  const lax = w.policy({ default: [{ type: 'insecureAcceptAnything' }] });
  await importWith(w, lax);
  await prepareRunImage('app:v1', { storeRoot: w.store, trustPolicyPath: lax, requireSignature: false });
  const err = await prepareRunImage('app:v1', { storeRoot: w.store, trustPolicyPath: keyedPolicy(w), requireSignature: true }).then(() => assert.fail('accepted'), (e: SandboxError) => e);
  assert.equal(err.code, 'TRUST');
  assert.equal(err.details.reason, 'unsigned');
  await assert.rejects(prepareRunImage('app:v1', { storeRoot: w.store, trustPolicyPath: lax, requireSignature: true }), (e: SandboxError) => e.details.reason === 'signature-required');
});

test('run-time re-check: a stored manifest changed after import is refused', async (t) => {
  const w = world(t);
  signLayout(w.layout.dir, 'v1', w.key.privateKey);
  const policy = keyedPolicy(w);
  await importWith(w, policy, true);
  const stored = path.join(w.store, 'images', w.layout.manifestDigest.slice(7), 'blobs', 'sha256', w.layout.manifestDigest.slice(7));
  const b = fs.readFileSync(stored);
  b[10] = b[10]! ^ 1;
  fs.writeFileSync(stored, b);
  const err = await prepareRunImage('app:v1', { storeRoot: w.store, trustPolicyPath: policy, requireSignature: true }).then(() => assert.fail('accepted'), (e: SandboxError) => e);
  assert.equal(err.code, 'TRUST');
  assert.equal(err.details.reason, 'digest-mismatch');
});

test('run-time re-check: a missing trust policy file fails closed', async (t) => {
  const w = world(t);
  await importWith(w, w.policy({ default: [{ type: 'insecureAcceptAnything' }] }));
  await assert.rejects(
    prepareRunImage('app:v1', { storeRoot: w.store, trustPolicyPath: path.join(w.dir, 'missing.json'), requireSignature: false }),
    (e: SandboxError) => e.code === 'TRUST' && e.details.reason === 'policy-missing',
  );
});

test('scopes named like members of Object.prototype are ordinary scopes (--name constructor crashed)', () => {
  const none = parseTrustPolicy(Buffer.from('{"default":[{"type":"reject"}]}'), 'p.json');
  assert.equal(requirementsFor(none, 'constructor', 'v1').scope, 'default');
  assert.equal(requirementsFor(none, 'tostring').scope, 'default');
  const named = parseTrustPolicy(Buffer.from('{"default":[{"type":"reject"}],"scopes":{"constructor":[{"type":"insecureAcceptAnything"}]}}'), 'p.json');
  const r = requirementsFor(named, 'constructor');
  assert.equal(r.scope, 'constructor');
  assert.deepEqual(r.requirements.map((x) => x.type), ['insecureAcceptAnything']);
});
