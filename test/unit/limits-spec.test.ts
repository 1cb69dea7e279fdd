/**
 * Limits resolved from a policy and the caller's flags (src/limits/spec.ts): the CPU bandwidth's range.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveLimits } from '../../src/limits/spec.js';
import { policy, refused } from './fixtures.js';

describe('cpus: 0.01 to the CPUs this process may use (docker/podman --cpus)', () => {
  for (const cpus of [0.01, 0.5, 1, 3.5, 4]) {
    test(`${cpus} of 4 is kept`, () => assert.equal(resolveLimits(policy(), { cpus }, 4).cpus, cpus));
  }
  // 1e9 cores: the kernel refused the quota with EINVAL, reported as a cgroup write failure
  for (const cpus of [0.005, 4.5, 1e9, 0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    test(`${cpus} of 4 is refused, naming the flag and the range`, () => {
      refused(() => resolveLimits(policy(), { cpus }, 4), new RegExp(`^--cpus: '${cpus}' is out of range: give 0\\.01 to 4 cores \\(this host has 4 CPUs for us\\)`));
    });
  }
  test('a string is refused, not coerced', () => {
    refused(() => resolveLimits(policy(), { cpus: '2' as unknown as number }, 4), /^--cpus: '2' is out of range/);
  });
  test("the policy's value is named as the policy's", () => {
    const p = policy();
    p.limits.cpus = 8;
    refused(() => resolveLimits(p, {}, 2), /^limits\.cpus: '8' is out of range: give 0\.01 to 2 cores \(this host has 2 CPUs for us\)/);
  });
  test('by default, the CPUs of this process', () => {
    refused(() => resolveLimits(policy(), { cpus: 1e9 }), /give 0\.01 to \d+ cores/);
  });
});
