/**
 * Lints over a compiled policy's rules:
 * - overlap: two rules of one syscall with different actions can match the same call; says
 *   which wins. When an unconditional rule is narrowed by a more restrictive conditional one (the
 *   usual "allow ioctl, but not TIOCSTI" exception) this is reported as info, otherwise a warning;
 * - shadowed: a rule can never decide, because a rule that wins over it always matches;
 * - unsatisfiable: a rule's conditions can never all hold.
 */
import { formatAction, sameAction } from './actions.js';
import { type Condition, type FilterIR, type Rule, byPrecedence, condHolds } from './policy/ir.js';

export interface LintFinding {
  readonly severity: 'warning' | 'info';
  readonly code: 'overlap' | 'shadowed' | 'unsatisfiable';
  readonly syscall: string;
  readonly pointer: string;
  readonly message: string;
}

const U64 = (1n << 64n) - 1n;

export function lintFilter(ir: FilterIR): LintFinding[] {
  const out: LintFinding[] = [];
  const byNr = new Map<number, Rule[]>();
  for (const r of ir.rules) {
    if (r.source.startsWith('builtin:')) continue;
    (byNr.get(r.nr) ?? byNr.set(r.nr, []).get(r.nr)!).push(r);
  }
  for (const rules of byNr.values()) {
    const ordered = rules.slice().sort(byPrecedence);
    for (const r of ordered) {
      if (!witness(r.conds)) {
        out.push({ severity: 'warning', code: 'unsatisfiable', syscall: r.name, pointer: r.source, message: `${r.name}: the conditions of this rule can never all hold; it never applies` });
      }
    }
    for (let j = 0; j < ordered.length; j++) {
      const later = ordered[j]!;
      for (let i = 0; i < j; i++) {
        const earlier = ordered[i]!;
        if (earlier.conds.length === 0) {
          // An unconditional rule that wins: everything after it is dead.
          // Same action: merely redundant (info); a different action: the author expected it to matter
          // (warning) — unless the dead rule is a member of an @group, which an explicit rule carves
          // out on purpose (info).
          const redundant = sameAction(earlier.action, later.action);
          const carvedOut = !redundant && later.fromGroup === true && !earlier.fromGroup;
          out.push({
            severity: redundant || carvedOut ? 'info' : 'warning', code: 'shadowed', syscall: later.name, pointer: later.source,
            message: redundant
              ? `${later.name}: this rule is redundant: the rule at ${earlier.source} already gives ${formatAction(earlier.action)} unconditionally`
              : carvedOut
                ? `${later.name}: excepted from its group by the rule at ${earlier.source} (${formatAction(earlier.action)})`
                : `${later.name}: this rule (${formatAction(later.action)}) never applies: the rule at ${earlier.source} (${formatAction(earlier.action)}) always matches and wins`,
          });
          break;
        }
        if (sameAction(earlier.action, later.action)) continue;
        const w = witness([...earlier.conds, ...later.conds]);
        if (!w) continue;
        const exception = later.conds.length === 0;
        out.push({
          severity: exception ? 'info' : 'warning', code: 'overlap', syscall: later.name, pointer: later.source,
          message: `${later.name}: rules at ${earlier.source} (${formatAction(earlier.action)}) and ${later.source} (${formatAction(later.action)}) both match ${describe(w)}; ${formatAction(earlier.action)} wins (more restrictive${sameKind(earlier, later) ? ', earlier in the profile' : ''})`,
        });
      }
    }
  }
  return out;
}

function sameKind(a: Rule, b: Rule): boolean {
  return a.action.kind === b.action.kind;
}

function describe(w: Map<number, bigint>): string {
  if (w.size === 0) return 'every call';
  return 'e.g. ' + [...w].sort((a, b) => a[0] - b[0]).map(([i, v]) => `args[${i}]=0x${v.toString(16)}`).join(', ');
}

/** Argument values satisfying every condition, or undefined when none is found. */
export function witness(conds: readonly Condition[]): Map<number, bigint> | undefined {
  const byIndex = new Map<number, Condition[]>();
  for (const c of conds) (byIndex.get(c.index) ?? byIndex.set(c.index, []).get(c.index)!).push(c);
  const out = new Map<number, bigint>();
  for (const [index, cs] of byIndex) {
    const v = candidates(cs).find((x) => cs.every((c) => condHolds(c, x)));
    if (v === undefined) return undefined;
    out.set(index, v);
  }
  return out;
}

/** Values at the edges of every condition: enough to find a witness for intervals and masks. */
function candidates(cs: readonly Condition[]): bigint[] {
  const set = new Set<bigint>([0n, U64, 0xffffffffn, 0x100000000n]);
  const add = (v: bigint): void => {
    for (const d of [-1n, 0n, 1n]) set.add(BigInt.asUintN(64, v + d));
  };
  for (const c of cs) {
    add(c.value);
    if (c.op === 'masked_eq') {
      add(c.value | (U64 & ~c.mask));
      for (const o of cs) if (o !== c) add((o.value & ~c.mask) | c.value);
    }
    if (c.op === 'any_set') {
      const low = c.mask & -c.mask;
      add(low);
      for (const o of cs) add(o.value | low);
    }
  }
  return [...set];
}
