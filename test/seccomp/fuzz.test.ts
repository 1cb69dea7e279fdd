/**
 * Property test: for random policies (random syscalls, actions, operators, 32- and 64-bit
 * arguments, overlapping rules), the compiled program returns exactly what the policy's reference
 * semantics say, for every syscall number and boundary argument values.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { compileFilter, syscallNames } from '../../src/seccomp/index.js';
import { assertProgramMatchesPolicy } from './helpers/equiv.js';
import { rng } from './helpers/random-bpf.js';

const ACTIONS = ['allow', 'errno', 'kill_process', 'kill_thread', 'trap', 'log', 'trace'];
const OPS = ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'masked_eq', 'any_set', 'none_set'];
// Syscalls with 32-bit arguments (ioctl, socket, kill...) and with 64-bit ones (mmap, mprotect, ptrace).
const ARG_SYSCALLS = ['ioctl', 'socket', 'kill', 'mmap', 'mprotect', 'ptrace', 'clone', 'personality', 'write', 'prctl'];

function randomValue(next: () => number, wide: boolean): string {
  const r = next() % 5;
  if (r === 0) return String(next() % 8);
  if (r === 1) return '0x' + (next() >>> 0).toString(16);
  if (r === 2 && wide) return '0x' + (next() >>> 0).toString(16) + (next() >>> 0).toString(16).padStart(8, '0');
  if (r === 3 && wide) return '0xffffffffffffffff';
  return String(next() % 100000);
}

function randomPolicy(seed: number): object {
  const next = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[next() % xs.length]!;
  const all = syscallNames('x86_64').filter((n) => syscallNames('aarch64').includes(n));
  const rules = [];
  for (let i = 0, n = 3 + (next() % 12); i < n; i++) {
    const conditional = next() % 3 !== 0;
    const names = conditional ? [pick(ARG_SYSCALLS)] : Array.from({ length: 1 + (next() % 6) }, () => pick(all));
    const action = pick(ACTIONS);
    const rule: Record<string, unknown> = { names, action };
    if (action === 'errno') rule['errno'] = 1 + (next() % 200);
    if (conditional) {
      rule['args'] = Array.from({ length: 1 + (next() % 3) }, () => {
        const index = next() % 3;
        const op = pick(OPS);
        // Values that fit 32 bits are valid for every argument; wide ones only for 64-bit arguments.
        const wide = names[0] === 'mmap' || names[0] === 'mprotect' || names[0] === 'ptrace';
        if (op === 'any_set' || op === 'none_set') return { index, op, mask: randomValue(next, wide) };
        if (op === 'masked_eq') {
          const mask = BigInt(randomValue(next, wide));
          return { index, op, mask: '0x' + mask.toString(16), value: '0x' + (BigInt(randomValue(next, wide)) & mask).toString(16) };
        }
        return { index, op, value: randomValue(next, wide) };
      });
    }
    rules.push(rule);
  }
  return { defaultAction: pick(['errno', 'kill_process', 'allow', 'trap']), syscalls: rules };
}

test('random policies: program ≡ policy semantics (x86_64 and aarch64)', () => {
  let checked = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const p = randomPolicy(seed);
    for (const arch of ['x86_64', 'aarch64'] as const) {
      const f = compileFilter(p, { arch });
      try {
        checked += assertProgramMatchesPolicy(f);
      } catch (e) {
        assert.fail(`seed ${seed} ${arch}: ${(e as Error).message}\npolicy: ${JSON.stringify(p)}`);
      }
    }
  }
  assert.ok(checked > 50_000, `checked ${checked} (nr, args) points`);
});
