/**
 * Checks that a compiled program returns what the policy's reference semantics (decide) say, for
 * every syscall number of the table (and around its edges) and boundary argument values.
 */
import assert from 'node:assert/strict';
import { type CompiledFilter, ARCHES, actionValue, runFilter, decide, formatAction, decodeAction } from '../../../src/seccomp/index.js';

const U64 = (1n << 64n) - 1n;

/** Each constant of the policy's conditions ±1, with and without high bits, and the extremes. */
export function boundaryValues(f: CompiledFilter, nr: number, index: number): bigint[] {
  const set = new Set<bigint>([0n, 1n, U64, 0xffffffffn, 0x100000000n, 0x80000000n]);
  for (const r of f.ir.rules) {
    if (r.nr !== nr) continue;
    for (const c of r.conds) {
      if (c.index !== index) continue;
      for (const base of [c.value, c.mask, c.value | c.mask, c.value & ~c.mask & U64]) {
        for (const d of [-1n, 0n, 1n]) {
          const v = BigInt.asUintN(64, base + d);
          set.add(v);
          set.add(v | 0xdead_beef_0000_0000n); // high bits set: must not change a 32-bit argument's outcome
          set.add(v & 0xffffffffn);
        }
      }
    }
  }
  return [...set];
}

/** Argument vectors for syscall `nr`: each index's boundary values, others at a few fixed points. */
export function argVectors(f: CompiledFilter, nr: number, limit = 400): bigint[][] {
  const indexes = [...new Set(f.ir.rules.filter((r) => r.nr === nr).flatMap((r) => r.conds.map((c) => c.index)))];
  if (indexes.length === 0) return [[0n, 0n, 0n, 0n, 0n, 0n]];
  const perIndex = indexes.map((i) => boundaryValues(f, nr, i));
  const out: bigint[][] = [];
  // Full cartesian product when small, else a deterministic spread.
  const total = perIndex.reduce((n, v) => n * v.length, 1);
  const step = Math.max(1, Math.floor(total / limit));
  for (let k = 0; k < total && out.length < limit; k += step) {
    const args = [0n, 0n, 0n, 0n, 0n, 0n];
    let rest = k;
    indexes.forEach((idx, j) => {
      const vals = perIndex[j]!;
      args[idx] = vals[rest % vals.length]!;
      rest = Math.floor(rest / vals.length);
    });
    out.push(args);
  }
  // And each index varying alone with the others fixed at the values of the first rule.
  for (const [j, idx] of indexes.entries()) {
    for (const v of perIndex[j]!) {
      const args = out[0]!.slice();
      args[idx] = v;
      out.push(args);
    }
  }
  return out;
}

export function assertProgramMatchesPolicy(f: CompiledFilter, extraNrs: number[] = []): number {
  const info = ARCHES[f.ir.arch];
  let checked = 0;
  const nrs = [...Array(f.ir.maxNr + 3).keys(), 0x3fffffff, 0x40000000, 0x40000027, 0x7fffffff, 0xfffffffe, 0xffffffff, ...extraNrs];
  for (const nr of nrs) {
    for (const args of argVectors(f, nr)) {
      const got = runFilter(f.insns, { nr, arch: info.auditArch, args });
      const want = decide(f.ir, info.auditArch, info.auditArch, info.hasX32, nr, args).action;
      if (got !== actionValue(want)) {
        assert.fail(`nr ${nr} args [${args.map((a) => '0x' + a.toString(16)).join(', ')}]: program returns ${formatAction(decodeAction(got))}, policy says ${formatAction(want)}`);
      }
      checked++;
    }
  }
  return checked;
}
