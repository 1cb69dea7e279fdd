/**
 * End to end: `sandbox exec --image REF` runs a command from a signed, imported image, and
 * refuses an image the trust policy does not admit (exit 125, nothing run).
 * Needs the launcher (native/) and `exec --image` integration by the lead.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { busyboxTar, ecKeyPair, runCli, tempDir, writeFile, writeLayout } from './helpers.js';

test('exec --image runs /bin/busybox echo hi from a signed image', (t) => {
  const dir = tempDir(t);
  const layout = writeLayout(path.join(dir, 'bb'), { layers: [busyboxTar()], tag: 'v1' });
  const key = ecKeyPair();
  const policy = writeFile(dir, 'trust.json', JSON.stringify({ default: [{ type: 'sigstoreSigned', keyPath: writeFile(dir, 'k.pub', key.publicPem) }] }));
  const store = path.join(dir, 'store');
  assert.equal(runCli(['image', 'sign', '--key', writeFile(dir, 'k.key', key.privatePem), layout.dir]).status, 0);
  const imp = runCli(['image', 'import', layout.dir, '--store', store, '--trust-policy', policy]);
  assert.equal(imp.status, 0, imp.stderr);
  const r = runCli(['exec', '--image', 'bb:v1', '--store', store, '--trust-policy', policy, '--', '/bin/busybox', 'echo', 'hi']);
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  assert.equal(r.stdout, 'hi\n');
});

test('exec --image refuses an unsigned image under a signature-requiring policy (exit 125, nothing run)', (t) => {
  const dir = tempDir(t);
  const layout = writeLayout(path.join(dir, 'bb'), { layers: [busyboxTar()], tag: 'v1' });
  const store = path.join(dir, 'store');
  const lax = writeFile(dir, 'lax.json', '{"default":[{"type":"insecureAcceptAnything"}]}');
  assert.equal(runCli(['image', 'import', layout.dir, '--store', store, '--trust-policy', lax]).status, 0);
  const strict = writeFile(dir, 'strict.json', JSON.stringify({ default: [{ type: 'sigstoreSigned', keyPath: writeFile(dir, 'k.pub', ecKeyPair().publicPem) }] }));
  const r = runCli(['exec', '--image', 'bb:v1', '--store', store, '--trust-policy', strict, '--', '/bin/busybox', 'echo', 'hi']);
  assert.equal(r.status, 125);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /has no signature.*\[TRUST\]/);
});
