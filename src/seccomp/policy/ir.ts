/**
 * The intermediate form both input formats are parsed into, and its reference semantics
 * (`decide`). The compiled BPF program must return exactly what `decide` returns for every input;
 * tests check that, and `explain` uses `decide` to say why.
 */
import { type Action, compareActions } from '../actions.js';
import type { TargetArch } from '../arch.js';

export type CmpOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'masked_eq' | 'any_set';

/** One comparison of one argument. */
export interface Condition {
  readonly index: number;
  readonly op: CmpOp;
  /** Compared value; for masked_eq the value (arg & mask) must equal. Unused by any_set. */
  readonly value: bigint;
  /** For masked_eq and any_set. */
  readonly mask: bigint;
  /** 32: the kernel reads only the low word of this argument, so only that word is compared. */
  readonly width: 32 | 64;
}

/** A rule: when all conditions hold (an empty list always holds), the action applies. */
export interface Rule {
  readonly nr: number;
  readonly name: string;
  readonly action: Action;
  readonly conds: readonly Condition[];
  /** Where it came from: a JSON pointer into the profile, or `builtin:<why>`. */
  readonly source: string;
  /** Position in the profile: among rules of equal restrictiveness the earlier one wins. */
  readonly order: number;
  /** The name came from an @group (a broad allowance that explicit rules may carve exceptions from). */
  readonly fromGroup?: boolean;
}

export interface FilterIR {
  readonly arch: TargetArch;
  readonly format: 'sandbox' | 'oci';
  readonly defaultAction: Action;
  /** What a foreign arch (i386/arm compat ABI) or an x32 syscall gets. */
  readonly badArchAction: Action;
  /** Numbers above this are answered with ENOSYS. */
  readonly maxNr: number;
  readonly rules: readonly Rule[];
  /** SECCOMP_FILTER_FLAG_* bits requested by the profile (OCI `flags`). */
  readonly flags: number;
}

const U64 = (1n << 64n) - 1n;
const U32 = 0xffffffffn;

/** Does condition `c` hold for argument value `arg` (as the register holds it)? */
export function condHolds(c: Condition, arg: bigint): boolean {
  // A 32-bit argument is what the kernel sees after truncation: compare that.
  const v = c.width === 32 ? arg & U32 : arg & U64;
  switch (c.op) {
    case 'eq': return v === c.value;
    case 'ne': return v !== c.value;
    case 'lt': return v < c.value;
    case 'le': return v <= c.value;
    case 'gt': return v > c.value;
    case 'ge': return v >= c.value;
    case 'masked_eq': return (v & c.mask) === c.value;
    case 'any_set': return (v & c.mask) !== 0n;
  }
}

export function ruleMatches(r: Rule, args: readonly bigint[]): boolean {
  return r.conds.every((c) => condHolds(c, args[c.index] ?? 0n));
}

/**
 * The precedence order of rules for one syscall: the most restrictive action first (kernel order,
 * see actionRank), then profile order. The first matching rule in this order decides.
 */
export function byPrecedence(a: Rule, b: Rule): number {
  return compareActions(a.action, b.action) || a.order - b.order;
}

export type Reason =
  | { kind: 'bad-arch'; arch: number }
  | { kind: 'x32' }
  | { kind: 'tracer-skip' }
  | { kind: 'above-table'; maxNr: number }
  | { kind: 'rule'; rule: Rule }
  | { kind: 'default' };

export interface Decision {
  readonly action: Action;
  readonly reason: Reason;
}

/** Reference semantics of a filter: what it decides for (arch, nr, args). */
export function decide(ir: FilterIR, auditArch: number, nativeAuditArch: number, hasX32: boolean, nr: number, args: readonly bigint[]): Decision {
  const n = nr >>> 0;
  if (auditArch >>> 0 !== nativeAuditArch >>> 0) return { action: ir.badArchAction, reason: { kind: 'bad-arch', arch: auditArch } };
  if (n === 0xffffffff) return { action: { kind: 'allow', data: 0 }, reason: { kind: 'tracer-skip' } };
  if (hasX32 && n >= 0x40000000) return { action: ir.badArchAction, reason: { kind: 'x32' } };
  if (n > ir.maxNr) return { action: { kind: 'errno', data: 38 }, reason: { kind: 'above-table', maxNr: ir.maxNr } };
  const rules = ir.rules.filter((r) => r.nr === n).sort(byPrecedence);
  for (const r of rules) if (ruleMatches(r, args)) return { action: r.action, reason: { kind: 'rule', rule: r } };
  return { action: ir.defaultAction, reason: { kind: 'default' } };
}
