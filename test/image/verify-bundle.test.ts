/**
 * `sandbox verify-bundle`, the sigstore-conformance client protocol, with bundles made here
 * (own CA, own log): file and digest inputs, message signatures and DSSE, keyless and keyed.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import { cosignStatement, ecKeyPair, makeBundle, makeCA, makeLog, runCli, tempDir, trustedRootJson, writeFile } from './helpers.js';

const pki = fs.mkdtempSync('/tmp/sbx-vb-');
process.on('exit', () => fs.rmSync(pki, { recursive: true, force: true }));
const ca = makeCA(pki);
const log = makeLog();
const ROOT = writeFile(pki, 'trusted_root.json', trustedRootJson({ ca, log }));
const ID = 'https://github.com/example/repo/.github/workflows/release.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';
const signer = ecKeyPair();
const CERT = ca.issue(signer, { uri: ID }, ISSUER);
const ARTIFACT = Buffer.from('a release artifact\n');
const DIGEST = 'sha256:' + createHash('sha256').update(ARTIFACT).digest('hex');

function keyless(args: { bundle: string; identity?: string; issuer?: string; root?: string | null; target: string }) {
  const a = ['verify-bundle', '--bundle', args.bundle, '--certificate-identity', args.identity ?? ID, '--certificate-oidc-issuer', args.issuer ?? ISSUER];
  if (args.root !== null) a.push('--trusted-root', args.root ?? ROOT);
  return runCli([...a, args.target]);
}

test('message-signature bundle (v0.1, v0.2, v0.3) verifies for the file and for its digest', (t) => {
  const dir = tempDir(t);
  const file = writeFile(dir, 'artifact.txt', ARTIFACT);
  for (const version of ['v0.1', 'v0.2', 'v0.3'] as const) {
    const bundle = writeFile(dir, `b-${version}.json`, makeBundle({ content: { kind: 'message', artifact: ARTIFACT }, signer, certDer: CERT, log, version }));
    for (const target of [file, DIGEST]) {
      const r = keyless({ bundle, target });
      assert.equal(r.status, 0, `${version} ${target}: ${r.stderr}`);
      assert.match(r.stdout, /^OK: sha256:/);
    }
  }
});

test('DSSE in-toto bundle verifies for the subject file and digest; other subjects fail', (t) => {
  const dir = tempDir(t);
  const file = writeFile(dir, 'artifact.txt', ARTIFACT);
  const bundle = writeFile(dir, 'b.json', makeBundle({ content: { kind: 'dsse', statement: cosignStatement(DIGEST, 'https://slsa.dev/provenance/v1') }, signer, certDer: CERT, log }));
  assert.equal(keyless({ bundle, target: file }).status, 0);
  assert.equal(keyless({ bundle, target: DIGEST }).status, 0);
  const other = keyless({ bundle, target: 'sha256:' + 'a'.repeat(64) });
  assert.notEqual(other.status, 0);
  assert.match(other.stderr, /does not name sha256:a{64} as a subject/);
});

test('wrong identity, identity prefix, wrong issuer, tampered artifact: all fail', (t) => {
  const dir = tempDir(t);
  const bundle = writeFile(dir, 'b.json', makeBundle({ content: { kind: 'message', artifact: ARTIFACT }, signer, certDer: CERT, log }));
  const file = writeFile(dir, 'artifact.txt', ARTIFACT);
  const tampered = writeFile(dir, 'tampered.txt', Buffer.concat([ARTIFACT, Buffer.from('!')]));
  const cases: [string, ReturnType<typeof keyless>, RegExp][] = [
    ['wrong identity', keyless({ bundle, target: file, identity: 'https://github.com/evil/repo' }), /identity-mismatch|is not exactly/],
    ['identity prefix', keyless({ bundle, target: file, identity: 'https://github.com/example/repo' }), /is not exactly/],
    ['regex metacharacters', keyless({ bundle, target: file, identity: '.*' }), /is not exactly/],
    ['wrong issuer', keyless({ bundle, target: file, issuer: 'https://accounts.google.com' }), /issuer/],
    ['tampered artifact', keyless({ bundle, target: tampered }), /different digest/],
  ];
  for (const [name, r, why] of cases) {
    assert.notEqual(r.status, 0, name);
    assert.match(r.stderr, why, name);
  }
});

test('digest input: a forged message signature fails (pre-hashed ECDSA check)', (t) => {
  const dir = tempDir(t);
  const b = JSON.parse(makeBundle({ content: { kind: 'message', artifact: ARTIFACT }, signer, certDer: CERT, log }));
  const other = JSON.parse(makeBundle({ content: { kind: 'message', artifact: Buffer.from('other') }, signer, certDer: CERT }));
  b.messageSignature.signature = other.messageSignature.signature; // valid signature, other message
  const bundle = writeFile(dir, 'forged.json', JSON.stringify(b));
  const r = keyless({ bundle, target: DIGEST });
  assert.notEqual(r.status, 0);
});

test('keyed: --key verifies a key-signed bundle; another key fails', (t) => {
  const dir = tempDir(t);
  const key = ecKeyPair();
  const bundle = writeFile(dir, 'b.json', makeBundle({ content: { kind: 'message', artifact: ARTIFACT }, signer: key, log }));
  const file = writeFile(dir, 'artifact.txt', ARTIFACT);
  const root = writeFile(dir, 'root.json', trustedRootJson({ log }));
  const ok = runCli(['verify-bundle', '--bundle', bundle, '--key', writeFile(dir, 'k.pub', key.publicPem), '--trusted-root', root, file]);
  assert.equal(ok.status, 0, ok.stderr);
  const bad = runCli(['verify-bundle', '--bundle', bundle, '--key', writeFile(dir, 'other.pub', ecKeyPair().publicPem), '--trusted-root', root, file]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /does not verify with any trusted key/);
});

test('without --trusted-root the public-good root (from @sigstore/tuf) is used: our test CA is not trusted', (t) => {
  const dir = tempDir(t);
  const bundle = writeFile(dir, 'b.json', makeBundle({ content: { kind: 'message', artifact: ARTIFACT }, signer, certDer: CERT, log }));
  const r = keyless({ bundle, target: writeFile(dir, 'a.txt', ARTIFACT), root: null });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /certificate|tlog|inclusion/);
});

test('a trusted root whose tlog has no validity start is refused', (t) => {
  const dir = tempDir(t);
  const root = JSON.parse(trustedRootJson({ ca, log }));
  delete root.tlogs[0].publicKey.validFor;
  const bundle = writeFile(dir, 'b.json', makeBundle({ content: { kind: 'message', artifact: ARTIFACT }, signer, certDer: CERT, log }));
  const r = keyless({ bundle, target: DIGEST, root: writeFile(dir, 'root.json', JSON.stringify(root)) });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /tlogs\[0\] has no validFor.start/);
});

test('usage errors: neither --key nor an identity', () => {
  const r = runCli(['verify-bundle', '--bundle', '/nonexistent', DIGEST]);
  assert.equal(r.status, 125);
  assert.match(r.stderr, /give --key, or --certificate-identity/);
});
