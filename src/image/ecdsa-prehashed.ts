/**
 * ECDSA verification of a signature over a message we only know by its digest (the conformance
 * protocol's `verify-bundle … sha256:<hex>` for message-signature bundles). node:crypto cannot
 * verify a pre-hashed ECDSA signature, so this does the textbook check (SEC 1, 4.1.4) with BigInt
 * on P-256 / P-384. Verification handles only public values, so constant time does not matter.
 */
import type { KeyObject } from 'node:crypto';

interface Curve {
  p: bigint;
  a: bigint;
  n: bigint;
  gx: bigint;
  gy: bigint;
  bytes: number;
}

const CURVES: Record<string, Curve> = {
  prime256v1: {
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    a: 0xffffffff00000001000000000000000000000000fffffffffffffffffffffffcn,
    n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    gx: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
    gy: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
    bytes: 32,
  },
  secp384r1: {
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
    a: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000fffffffcn,
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    gx: 0xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7n,
    gy: 0x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5fn,
    bytes: 48,
  },
};

type Point = { x: bigint; y: bigint } | null; // null is the point at infinity

const mod = (a: bigint, m: bigint): bigint => ((a % m) + m) % m;

function inv(a: bigint, m: bigint): bigint {
  let [r0, r1, s0, s1] = [mod(a, m), m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0, m);
}

function add(c: Curve, P: Point, Q: Point): Point {
  if (P === null) return Q;
  if (Q === null) return P;
  let l: bigint;
  if (P.x === Q.x) {
    if (mod(P.y + Q.y, c.p) === 0n) return null;
    l = mod((3n * P.x * P.x + c.a) * inv(2n * P.y, c.p), c.p);
  } else {
    l = mod((Q.y - P.y) * inv(Q.x - P.x, c.p), c.p);
  }
  const x = mod(l * l - P.x - Q.x, c.p);
  return { x, y: mod(l * (P.x - x) - P.y, c.p) };
}

function mul(c: Curve, k: bigint, P: Point): Point {
  let R: Point = null;
  let A = P;
  while (k > 0n) {
    if (k & 1n) R = add(c, R, A);
    A = add(c, A, A);
    k >>= 1n;
  }
  return R;
}

function toBig(b: Buffer): bigint {
  return b.length === 0 ? 0n : BigInt('0x' + b.toString('hex'));
}

/** Parses a DER ECDSA-Sig-Value (SEQUENCE of two INTEGERs), strictly. */
function parseDerSig(sig: Buffer): { r: bigint; s: bigint } | undefined {
  if (sig.length < 8 || sig[0] !== 0x30 || sig[1] !== sig.length - 2) return undefined;
  let off = 2;
  const ints: bigint[] = [];
  for (let i = 0; i < 2; i++) {
    if (sig[off] !== 0x02) return undefined;
    const len = sig[off + 1]!;
    if (len === 0 || len > 0x7f || off + 2 + len > sig.length) return undefined;
    ints.push(toBig(sig.subarray(off + 2, off + 2 + len)));
    off += 2 + len;
  }
  return off === sig.length ? { r: ints[0]!, s: ints[1]! } : undefined;
}

/** True when `sig` (DER) is a valid ECDSA signature by `key` over a message whose hash is `digest`. */
export function verifyEcdsaPrehashed(key: KeyObject, digest: Buffer, sig: Buffer): boolean {
  if (key.asymmetricKeyType !== 'ec') return false;
  const c = CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
  if (!c) return false;
  const jwk = key.export({ format: 'jwk' });
  const Q: Point = { x: toBig(Buffer.from(jwk.x!, 'base64url')), y: toBig(Buffer.from(jwk.y!, 'base64url')) };
  const rs = parseDerSig(sig);
  if (!rs || rs.r <= 0n || rs.r >= c.n || rs.s <= 0n || rs.s >= c.n) return false;
  // e = leftmost bits of the digest, truncated to the bit length of n (SEC 1, 4.1.3 step 5).
  let e = toBig(digest);
  const excess = digest.length * 8 - c.bytes * 8;
  if (excess > 0) e >>= BigInt(excess);
  const w = inv(rs.s, c.n);
  const R = add(c, mul(c, mod(e * w, c.n), { x: c.gx, y: c.gy }), mul(c, mod(rs.r * w, c.n), Q));
  return R !== null && mod(R.x, c.n) === rs.r;
}
