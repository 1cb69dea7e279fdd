/**
 * From rules to a dispatch plan: what each syscall number does, as contiguous ranges.
 *
 * For each syscall with rules, the rules are put in precedence order (most restrictive action
 * first, then profile order); the first unconditional rule ends the list (nothing after it can
 * decide). What remains is either one constant action (no argument needed: it stays on the fast,
 * cacheable path) or an argument block. Neighbouring numbers with the same constant action merge
 * into one range, so the search tree is as shallow as the policy allows.
 */
import { type Action, sameAction } from '../actions.js';
import { type FilterIR, type Rule, byPrecedence } from '../policy/ir.js';

export interface ArgPlan {
  readonly nr: number;
  readonly name: string;
  /** Conditional rules, in the order they are tried. */
  readonly rules: readonly Rule[];
  /** What the syscall gets when none of them matches. */
  readonly fallback: Action;
}

export type Leaf = { readonly kind: 'action'; readonly action: Action } | { readonly kind: 'args'; readonly plan: ArgPlan };

export interface Range {
  readonly lo: number;
  readonly hi: number;
  readonly leaf: Leaf;
}

/** The decision structure for one syscall number. */
export function planSyscall(ir: FilterIR, nr: number, rules: readonly Rule[]): Leaf {
  const ordered = rules.slice().sort(byPrecedence);
  const cut = ordered.findIndex((r) => r.conds.length === 0);
  const fallback = cut >= 0 ? ordered[cut]!.action : ir.defaultAction;
  const conditional = cut >= 0 ? ordered.slice(0, cut) : ordered;
  // Rules at the end of the list that give the fallback's action decide nothing: drop them.
  while (conditional.length && sameAction(conditional[conditional.length - 1]!.action, fallback)) conditional.pop();
  if (conditional.length === 0) return { kind: 'action', action: fallback };
  return { kind: 'args', plan: { nr, name: conditional[0]!.name, rules: conditional, fallback } };
}

/**
 * Ranges covering syscall numbers [0, top] (top = 0x3fffffff on x86_64 below the x32 bit,
 * 0xffffffff elsewhere). Above the table's highest number: ENOSYS, so that libc falls back from a
 * syscall newer than our table instead of being denied or allowed blindly. 0xffffffff (-1) is
 * allowed: it is how a tracer skips a syscall, and the kernel executes nothing for it.
 */
export function planRanges(ir: FilterIR, top: number): Range[] {
  const byNr = new Map<number, Rule[]>();
  for (const r of ir.rules) {
    const list = byNr.get(r.nr);
    if (list) list.push(r);
    else byNr.set(r.nr, [r]);
  }
  const ranges: Range[] = [];
  const push = (lo: number, hi: number, leaf: Leaf): void => {
    const last = ranges[ranges.length - 1];
    if (last && last.leaf.kind === 'action' && leaf.kind === 'action' && sameAction(last.leaf.action, leaf.action) && last.hi + 1 === lo) {
      ranges[ranges.length - 1] = { lo: last.lo, hi, leaf: last.leaf };
    } else {
      ranges.push({ lo, hi, leaf });
    }
  };
  const def: Leaf = { kind: 'action', action: ir.defaultAction };
  for (let nr = 0; nr <= ir.maxNr; nr++) {
    const rules = byNr.get(nr);
    push(nr, nr, rules ? planSyscall(ir, nr, rules) : def);
  }
  const enosys: Leaf = { kind: 'action', action: { kind: 'errno', data: 38 } };
  if (top === 0xffffffff) {
    push(ir.maxNr + 1, 0xfffffffe, enosys);
    push(0xffffffff, 0xffffffff, { kind: 'action', action: { kind: 'allow', data: 0 } });
  } else {
    push(ir.maxNr + 1, top, enosys);
  }
  return ranges;
}
