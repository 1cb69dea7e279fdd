/**
 * From a parsed profile to the FilterIR, adding the rules every filter of ours has.
 */
import { actionRank, errnoAction, ENOSYS } from '../actions.js';
import { maxSyscallNumber, syscallNumber } from '../syscalls.js';
import { type FilterIR, type Rule } from './ir.js';
import { type ParsedProfile } from './parsed.js';

export function finalize(p: ParsedProfile): { ir: FilterIR; warnings: string[] } {
  const b = p.builder;
  const rules: Rule[] = b.rules.slice();
  const clone3 = syscallNumber(b.arch, 'clone3');
  if (clone3 !== undefined) {
    // clone3 takes its flags in a struct in memory, which a filter cannot read, so a rule on
    // clone's flags (no CLONE_NEW*) would be bypassed through clone3. Answering ENOSYS makes libc
    // fall back to clone, whose flags we can check. Only a more restrictive policy rule (kill,
    // trap) beats it: order -1 puts it before any equally ranked policy rule.
    const enosys = errnoAction(ENOSYS);
    for (const r of rules) {
      if (r.nr === clone3 && actionRank(r.action) > actionRank(enosys)) {
        b.warn(`${r.source}: clone3 is always answered with ENOSYS (libc falls back to clone, whose flags the filter checks)`);
      }
    }
    rules.push({ nr: clone3, name: 'clone3', action: enosys, conds: [], source: 'builtin:clone3', order: -1 });
  }
  const ir: FilterIR = {
    arch: b.arch,
    format: p.format,
    defaultAction: p.defaultAction,
    badArchAction: p.badArchAction,
    maxNr: maxSyscallNumber(b.arch),
    rules,
    flags: p.flags,
  };
  return { ir, warnings: b.warnings.slice() };
}
