/**
 * "What does this filter do with this call, and why": runs the compiled program in the
 * interpreter and the reference semantics side by side, and reports both (they must agree).
 */
import { type Action, actionValue, decodeAction, formatAction } from './actions.js';
import { ARCHES, type TargetArch } from './arch.js';
import { traceFilter } from './bpf/interpreter.js';
import { type CompiledFilter } from './compile.js';
import { SeccompError } from './errors.js';
import { decide } from './policy/ir.js';
import { syscallName, syscallNumber } from './syscalls.js';

export interface Explanation {
  readonly arch: TargetArch;
  readonly syscall: string;
  readonly nr: number;
  readonly args: string[];
  readonly action: Action;
  readonly actionText: string;
  readonly returnValue: number;
  /** One sentence. */
  readonly why: string;
  /** Where the deciding rule is in the profile, when a rule decided. */
  readonly source?: string;
  /** Instructions executed by the program for this call. */
  readonly instructions: number;
}

/** `syscall` is a name or a number; args are 64-bit values. */
export function explainCall(f: CompiledFilter, syscall: string, args: readonly bigint[]): Explanation {
  const arch = f.ir.arch;
  const info = ARCHES[arch];
  const nr = /^(0x[0-9a-f]+|[0-9]+)$/i.test(syscall) ? Number(syscall) >>> 0 : syscallNumber(arch, syscall);
  if (nr === undefined) throw new SeccompError('UNKNOWN_SYSCALL', `${syscall} is not a syscall on ${arch}`);
  const name = syscallName(arch, nr) ?? `#${nr}`;
  const full = [...args, 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6);
  const run = traceFilter(f.insns, { nr, arch: info.auditArch, args: full });
  const d = decide(f.ir, info.auditArch, info.auditArch, info.hasX32, nr, full);
  const action = decodeAction(run.ret);
  if (run.ret !== actionValue(d.action)) {
    throw new SeccompError('PROGRAM_INVALID', `internal error: program says ${formatAction(action)} but the policy says ${formatAction(d.action)}`);
  }
  let why: string;
  let source: string | undefined;
  switch (d.reason.kind) {
    case 'rule':
      source = d.reason.rule.source;
      why = source.startsWith('builtin:')
        ? 'clone3 is always answered with ENOSYS: its flags are in memory the filter cannot read, and libc falls back to clone'
        : `the rule at ${source} matches${d.reason.rule.conds.length ? ' (its argument conditions hold)' : ''}`;
      break;
    case 'default': why = 'no rule matches: the default action applies'; break;
    case 'above-table': why = `${nr} is above the highest syscall number in the table (${d.reason.maxNr}): ENOSYS so libc falls back`; break;
    case 'x32': why = 'x32 ABI syscall numbers (bit 30 set) are denied with the bad-arch action'; break;
    case 'tracer-skip': why = 'nr -1 is the value a tracer uses to skip a syscall; the kernel executes nothing'; break;
    case 'bad-arch': why = 'foreign architecture'; break;
  }
  return {
    arch, syscall: name, nr, args: full.map((a) => '0x' + a.toString(16)), action, actionText: formatAction(action),
    returnValue: run.ret, why, ...(source !== undefined ? { source } : {}), instructions: run.path.length,
  };
}
