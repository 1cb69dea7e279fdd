/** The pre-hashed ECDSA check used for `verify-bundle … sha256:<hex>` message signatures. */
import test from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { verifyEcdsaPrehashed } from '../../src/image/ecdsa-prehashed.js';

for (const [curve, hash] of [['P-256', 'sha256'], ['P-384', 'sha384'], ['P-256', 'sha512']] as const) {
  test(`ECDSA ${curve} over a ${hash} digest: valid accepted, wrong message / key / bytes refused`, () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
    const msg = Buffer.from('the signed message');
    const digest = createHash(hash).update(msg).digest();
    const sig = sign(hash, msg, privateKey);
    assert.equal(verifyEcdsaPrehashed(publicKey, digest, sig), true);
    assert.equal(verifyEcdsaPrehashed(publicKey, createHash(hash).update('other').digest(), sig), false);
    assert.equal(verifyEcdsaPrehashed(generateKeyPairSync('ec', { namedCurve: curve }).publicKey, digest, sig), false);
    const bad = Buffer.from(sig);
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 1;
    assert.equal(verifyEcdsaPrehashed(publicKey, digest, bad), false);
    assert.equal(verifyEcdsaPrehashed(publicKey, digest, Buffer.from([0x30, 0x00])), false);
  });
}

test('non-EC keys are not verified by the pre-hashed path', () => {
  const { publicKey } = generateKeyPairSync('ed25519');
  assert.equal(verifyEcdsaPrehashed(publicKey, Buffer.alloc(32), Buffer.alloc(64)), false);
});
