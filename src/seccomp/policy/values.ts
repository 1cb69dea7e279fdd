/**
 * Turning JSON values into exact 64-bit argument values, and narrowing them for 32-bit arguments.
 */
import { parseConstantExpression } from '../constants.js';
import { SeccompError } from '../errors.js';

const U64 = (1n << 64n) - 1n;

/**
 * A 64-bit value from JSON: a safe integer (negative = two's complement), a bigint (from the
 * lossless parser), or — when `allowNames` — a string constant expression ("TIOCSTI", "0x5412",
 * "CLONE_NEWUSER|CLONE_NEWNET").
 */
export function toU64(v: unknown, pointer: string, allowNames: boolean): bigint {
  if (typeof v === 'bigint') {
    if (v < -(1n << 63n) || v > U64) throw new SeccompError('VALUE_RANGE', `${v} does not fit in 64 bits`, pointer);
    return BigInt.asUintN(64, v);
  }
  if (typeof v === 'number') {
    // A double above 2^53 has already lost bits: refuse rather than compare against a rounded value.
    if (!Number.isSafeInteger(v)) {
      throw new SeccompError('VALUE_RANGE', `${v} is not an exact integer; write values above 2^53 as a string ("0x...") or load the profile from a file`, pointer);
    }
    return BigInt.asUintN(64, BigInt(v));
  }
  if (typeof v === 'string' && allowNames) {
    const r = parseConstantExpression(v);
    if ('value' in r) return r.value;
    if ('unknown' in r) throw new SeccompError('UNKNOWN_CONSTANT', `unknown constant ${r.unknown}; use a number or a known name (TIOCSTI, AF_ALG, CLONE_NEWUSER...)`, pointer);
    throw new SeccompError('PROFILE_INVALID', r.syntax, pointer);
  }
  throw new SeccompError('PROFILE_INVALID', allowNames ? 'expected an integer or a constant name' : 'expected an unsigned integer', pointer);
}

/**
 * The low word a 32-bit argument comparison uses. Accepts values the kernel can see in the low
 * word: 0..2^32-1, or a negative int sign-extended to 64 bits (0xffffffff_8xxxxxxx). Anything else
 * has bits the kernel discards, so the author meant something the filter cannot express: refuse.
 */
export function narrow32(v: bigint, pointer: string, what: string): bigint {
  const hi = v >> 32n;
  const lo = v & 0xffffffffn;
  if (hi === 0n) return lo;
  if (hi === 0xffffffffn && lo >= 0x80000000n) return lo;
  throw new SeccompError(
    'VALUE_RANGE',
    `${what} 0x${v.toString(16)} has high bits, but the kernel reads this argument as 32 bits; use a value below 2^32`,
    pointer,
  );
}
