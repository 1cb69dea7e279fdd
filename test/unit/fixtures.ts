/**
 * Shared inputs for the unit tests of the pure parts: a real policy (loaded from policies/) and a
 * fabricated HostFacts, so that buildPlan and encodePlan run without touching the host.
 */
import assert from 'node:assert/strict';
import { SandboxError } from '../../src/errors.js';
import type { HostEntry, HostFacts } from '../../src/host/facts.js';
import type { PlanRequest } from '../../src/launch/plan.js';
import { loadPolicy } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/types.js';

/** A merged-/usr host: /bin, /lib, /lib64, /sbin are symlinks, /lib32 and /libx32 are missing. */
export function hostFacts(extra: Record<string, HostEntry> = {}): HostFacts {
  return {
    euid: 1001,
    egid: 1001,
    kernel: '6.1.0-test',
    // no host limit lower than what the policies ask for, unless a test says so
    hardLimits: {},
    entries: {
      '/usr': { kind: 'dir' },
      '/bin': { kind: 'symlink', target: 'usr/bin' },
      '/sbin': { kind: 'symlink', target: 'usr/sbin' },
      '/lib': { kind: 'symlink', target: 'usr/lib' },
      '/lib64': { kind: 'symlink', target: 'usr/lib64' },
      '/lib32': { kind: 'missing' },
      '/libx32': { kind: 'missing' },
      '/etc/ld.so.cache': { kind: 'file' },
      '/etc/alternatives': { kind: 'dir' },
      '/dev/null': { kind: 'other' },
      '/dev/zero': { kind: 'other' },
      '/dev/full': { kind: 'other' },
      '/dev/random': { kind: 'other' },
      '/dev/urandom': { kind: 'other' },
      ...extra,
    },
  };
}

/** A deep copy of a built-in policy, safe to modify in a test. */
export function policy(name = 'default'): Policy {
  return structuredClone(loadPolicy(name).policy);
}

export function request(over: Partial<PlanRequest> = {}): PlanRequest {
  return {
    policy: policy(),
    argv: ['/bin/echo', 'hi'],
    binds: [],
    tmpfs: [],
    workdir: '/tmp',
    env: {},
    host: hostFacts(),
    hostIds: { uid: 1001, gid: 1001 },
    cgroupProcs: [],
    seccomp: null,
    image: null,
    extraRlimits: [],
    ...over,
  };
}

/** `fn` throws a USAGE SandboxError whose message matches. */
export function refused(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SandboxError, String(e));
    assert.equal(e.code, 'USAGE');
    assert.match(e.message, message);
    return true;
  });
}
