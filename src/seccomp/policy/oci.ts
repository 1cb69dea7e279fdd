/**
 * OCI runtime-spec `linux.seccomp` and Docker/moby seccomp profiles → FilterIR, with runc's
 * semantics:
 * - conditions on distinct argument indexes are ANDed into one rule; if any index repeats, every
 *   condition becomes a rule of its own (OR) — runc's "old behaviour" for that case;
 * - a rule whose action (with its errno) equals the default action is skipped (libseccomp refuses
 *   such rules, so runc drops them);
 * - unknown syscall names are skipped with a warning (an error when strict);
 * - moby `includes`/`excludes` {caps, arches, minKernel} are resolved against the explicit context.
 */
import { type Action, MAX_ERRNO, sameAction } from '../actions.js';
import { ARCHES, OCI_ARCH_NAMES } from '../arch.js';
import { SeccompError } from '../errors.js';
import { RuleBuilder, type RawCondition } from './builder.js';
import { kernelAtLeast, parseKernelVersion, type ResolvedContext } from './context.js';
import { type CmpOp } from './ir.js';
import { toU64 } from './values.js';
import { type ParsedProfile } from './parsed.js';

const ACTIONS: Record<string, Action['kind']> = {
  SCMP_ACT_KILL: 'kill_thread', // libseccomp's SCMP_ACT_KILL is SCMP_ACT_KILL_THREAD
  SCMP_ACT_KILL_THREAD: 'kill_thread',
  SCMP_ACT_KILL_PROCESS: 'kill_process',
  SCMP_ACT_TRAP: 'trap',
  SCMP_ACT_ERRNO: 'errno',
  SCMP_ACT_NOTIFY: 'notify',
  SCMP_ACT_TRACE: 'trace',
  SCMP_ACT_LOG: 'log',
  SCMP_ACT_ALLOW: 'allow',
};

const OPS: Record<string, CmpOp> = {
  SCMP_CMP_NE: 'ne', SCMP_CMP_LT: 'lt', SCMP_CMP_LE: 'le', SCMP_CMP_EQ: 'eq', SCMP_CMP_GE: 'ge',
  SCMP_CMP_GT: 'gt', SCMP_CMP_MASKED_EQ: 'masked_eq',
};

const FLAGS: Record<string, number> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 32,
};

const TOP_KEYS = new Set(['comment', 'defaultAction', 'defaultErrnoRet', 'architectures', 'archMap', 'flags', 'listenerPath', 'listenerMetadata', 'syscalls']);
const CALL_KEYS = new Set(['names', 'name', 'action', 'errnoRet', 'args', 'comment', 'includes', 'excludes']);
const ARG_KEYS = new Set(['index', 'value', 'valueTwo', 'op']);
const FILTER_KEYS = new Set(['caps', 'arches', 'minKernel']);

/** True when `p` looks like an OCI/Docker profile (its defaultAction is an SCMP_ACT_* name). */
export function isOciProfile(p: unknown): boolean {
  return isObject(p) && typeof p.defaultAction === 'string' && p.defaultAction.startsWith('SCMP_ACT_');
}

export function parseOciProfile(p: unknown, ctx: ResolvedContext): ParsedProfile {
  if (!isObject(p)) throw new SeccompError('PROFILE_INVALID', 'a seccomp profile is a JSON object', '');
  const b = new RuleBuilder(ctx.arch, ctx.strict);
  for (const k of Object.keys(p)) if (!TOP_KEYS.has(k)) b.warn(`/${k}: unknown field ignored`);

  const defaultAction = action(p.defaultAction, p.defaultErrnoRet, '/defaultAction', '/defaultErrnoRet');
  checkArches(p, ctx, b);
  const flags = parseFlags(p.flags, b);
  if (p.listenerPath !== undefined) b.warn('/listenerPath: seccomp notify listeners are not supported; SCMP_ACT_NOTIFY returns ENOSYS without one');

  const calls = p.syscalls ?? [];
  if (!Array.isArray(calls)) throw new SeccompError('PROFILE_INVALID', 'expected an array', '/syscalls');
  calls.forEach((call, i) => addCall(call, `/syscalls/${i}`, defaultAction, ctx, b));
  // OCI has no bad-arch field; libseccomp's default is kill-thread. A foreign ABI is an attack, not a
  // mistake: kill the whole process (a surviving sibling thread could retry).
  return { format: 'oci', defaultAction, badArchAction: { kind: 'kill_process', data: 0 }, builder: b, flags };
}

function addCall(call: unknown, ptr: string, def: Action, ctx: ResolvedContext, b: RuleBuilder): void {
  if (!isObject(call)) throw new SeccompError('PROFILE_INVALID', 'a syscall entry is an object', ptr);
  for (const k of Object.keys(call)) if (!CALL_KEYS.has(k)) b.warn(`${ptr}/${k}: unknown field ignored`);
  const names = callNames(call, ptr);
  const act = action(call.action, call.errnoRet, `${ptr}/action`, `${ptr}/errnoRet`);
  const conds = parseArgs(call.args, `${ptr}/args`);
  if (!applies(call, ptr, ctx)) return;
  // libseccomp refuses a rule whose action equals the default, so runc skips it; we do the same.
  if (sameAction(act, def)) return;
  const repeated = new Set(conds.map((c) => c.index)).size !== conds.length;
  names.forEach((name, j) => {
    const namePtr = call.names !== undefined ? `${ptr}/names/${j}` : `${ptr}/name`;
    if (repeated) {
      // runc: if any argument index repeats, each condition becomes a separate rule (OR).
      for (const c of conds) b.add(name, act, [c], namePtr);
    } else {
      b.add(name, act, conds, namePtr);
    }
  });
}

function callNames(call: Record<string, unknown>, ptr: string): string[] {
  const v = call.names ?? (call.name !== undefined ? [call.name] : undefined);
  if (!Array.isArray(v) || v.length === 0 || !v.every((n) => typeof n === 'string' && n !== '')) {
    throw new SeccompError('PROFILE_INVALID', 'expected "names": a non-empty array of syscall names', `${ptr}/names`);
  }
  return v as string[];
}

function action(name: unknown, errnoRet: unknown, ptr: string, errPtr: string): Action {
  if (typeof name !== 'string' || !(name in ACTIONS)) {
    throw new SeccompError('PROFILE_INVALID', `unknown action ${JSON.stringify(name)}; expected one of ${Object.keys(ACTIONS).join(', ')}`, ptr);
  }
  const kind = ACTIONS[name]!;
  if (kind === 'errno' || kind === 'trace') {
    // runc: errnoRet defaults to EPERM for both SCMP_ACT_ERRNO and SCMP_ACT_TRACE.
    if (errnoRet === undefined) return { kind, data: 1 };
    const v = toU64(errnoRet, errPtr, false);
    const max = kind === 'errno' ? BigInt(MAX_ERRNO) : 0xffffn;
    if (v < 1n || v > max) throw new SeccompError('VALUE_RANGE', `errnoRet must be 1..${max} (got ${v})`, errPtr);
    return { kind, data: Number(v) };
  }
  if (errnoRet !== undefined) throw new SeccompError('PROFILE_INVALID', `errnoRet is only allowed with SCMP_ACT_ERRNO or SCMP_ACT_TRACE`, errPtr);
  return { kind, data: 0 };
}

function parseArgs(args: unknown, ptr: string): RawCondition[] {
  if (args === undefined || args === null) return [];
  if (!Array.isArray(args)) throw new SeccompError('PROFILE_INVALID', 'expected an array', ptr);
  return args.map((a, i) => {
    const p = `${ptr}/${i}`;
    if (!isObject(a)) throw new SeccompError('PROFILE_INVALID', 'an argument condition is an object', p);
    for (const k of Object.keys(a)) if (!ARG_KEYS.has(k)) throw new SeccompError('PROFILE_INVALID', `unknown field ${k}; allowed: index, value, valueTwo, op`, p);
    const index = a.index;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > 5) {
      throw new SeccompError('VALUE_RANGE', 'index must be an integer 0..5', `${p}/index`);
    }
    const op = typeof a.op === 'string' ? OPS[a.op] : undefined;
    if (!op) throw new SeccompError('PROFILE_INVALID', `unknown op ${JSON.stringify(a.op)}; expected one of ${Object.keys(OPS).join(', ')}`, `${p}/op`);
    const value = toU64(a.value ?? 0, `${p}/value`, false);
    const valueTwo = toU64(a.valueTwo ?? 0, `${p}/valueTwo`, false);
    // OCI MASKED_EQ: value is the mask, valueTwo the datum. libseccomp (which runc uses) compares
    // (arg & mask) == (datum & mask): datum bits outside the mask are ignored, and so they are here.
    if (op === 'masked_eq') return { index, op, mask: value, value: valueTwo & value, pointer: p };
    return { index, op, value, mask: 0n, pointer: p };
  });
}

/** moby includes/excludes: does this entry apply in the given context? */
function applies(call: Record<string, unknown>, ptr: string, ctx: ResolvedContext): boolean {
  const inc = filterSpec(call.includes, `${ptr}/includes`);
  const exc = filterSpec(call.excludes, `${ptr}/excludes`);
  const archNames = ARCHES[ctx.arch].mobyNames;
  if (exc.arches.length && exc.arches.some((a) => archNames.includes(a))) return false;
  if (exc.caps.length && exc.caps.some((c) => ctx.caps.includes(c.toUpperCase()))) return false;
  if (exc.minKernel && kernelAtLeast(ctx.kernel, exc.minKernel)) return false;
  if (inc.arches.length && !inc.arches.some((a) => archNames.includes(a))) return false;
  if (inc.caps.length && !inc.caps.every((c) => ctx.caps.includes(c.toUpperCase()))) return false;
  if (inc.minKernel && !kernelAtLeast(ctx.kernel, inc.minKernel)) return false;
  return true;
}

function filterSpec(v: unknown, ptr: string): { arches: string[]; caps: string[]; minKernel?: [number, number] } {
  if (v === undefined || v === null) return { arches: [], caps: [] };
  if (!isObject(v)) throw new SeccompError('PROFILE_INVALID', 'expected an object {caps, arches, minKernel}', ptr);
  for (const k of Object.keys(v)) if (!FILTER_KEYS.has(k)) throw new SeccompError('PROFILE_INVALID', `unknown field ${k}; allowed: caps, arches, minKernel`, ptr);
  const strings = (x: unknown, p: string): string[] => {
    if (x === undefined || x === null) return [];
    if (!Array.isArray(x) || !x.every((s) => typeof s === 'string')) throw new SeccompError('PROFILE_INVALID', 'expected an array of strings', p);
    return x as string[];
  };
  const out: { arches: string[]; caps: string[]; minKernel?: [number, number] } = {
    arches: strings(v.arches, `${ptr}/arches`),
    caps: strings(v.caps, `${ptr}/caps`),
  };
  if (v.minKernel !== undefined && v.minKernel !== null) {
    if (typeof v.minKernel !== 'string') throw new SeccompError('PROFILE_INVALID', 'expected a version string like "5.8"', `${ptr}/minKernel`);
    out.minKernel = parseKernelVersion(v.minKernel, `${ptr}/minKernel`);
  }
  return out;
}

function checkArches(p: Record<string, unknown>, ctx: ResolvedContext, b: RuleBuilder): void {
  const listed: string[] = [];
  if (p.architectures !== undefined && p.architectures !== null) {
    if (!Array.isArray(p.architectures)) throw new SeccompError('PROFILE_INVALID', 'expected an array of SCMP_ARCH_* names', '/architectures');
    p.architectures.forEach((a, i) => {
      if (typeof a !== 'string' || !OCI_ARCH_NAMES.includes(a)) throw new SeccompError('PROFILE_INVALID', `unknown architecture ${JSON.stringify(a)}`, `/architectures/${i}`);
      listed.push(a);
    });
  }
  if (p.archMap !== undefined && p.archMap !== null) {
    if (!Array.isArray(p.archMap)) throw new SeccompError('PROFILE_INVALID', 'expected an array of {architecture, subArchitectures}', '/archMap');
    const native = ARCHES[ctx.arch].ociNames;
    p.archMap.forEach((m, i) => {
      if (!isObject(m) || typeof m.architecture !== 'string') throw new SeccompError('PROFILE_INVALID', 'expected {architecture, subArchitectures}', `/archMap/${i}`);
      if (!native.includes(m.architecture)) return;
      listed.push(m.architecture);
      if (Array.isArray(m.subArchitectures)) for (const s of m.subArchitectures) if (typeof s === 'string') listed.push(s);
    });
  }
  const native = ARCHES[ctx.arch].ociNames;
  const foreign = [...new Set(listed.filter((a) => !native.includes(a)))];
  // Compat ABIs are where filters get bypassed (i386 int $0x80, x32): one native arch per filter, the rest is killed.
  if (foreign.length) b.warn(`architectures ${foreign.join(', ')} are not allowed: this filter accepts ${ctx.arch} only and kills other ABIs`);
  if (listed.length && !listed.some((a) => native.includes(a))) b.warn(`the profile does not list ${native.join('/')}; it is compiled for ${ctx.arch} anyway`);
}

function parseFlags(v: unknown, b: RuleBuilder): number {
  if (v === undefined || v === null) return 0;
  if (!Array.isArray(v)) throw new SeccompError('PROFILE_INVALID', 'expected an array of SECCOMP_FILTER_FLAG_* names', '/flags');
  let flags = 0;
  v.forEach((f, i) => {
    if (typeof f !== 'string' || !(f in FLAGS)) throw new SeccompError('PROFILE_INVALID', `unknown flag ${JSON.stringify(f)}; expected one of ${Object.keys(FLAGS).join(', ')}`, `/flags/${i}`);
    if (f === 'SECCOMP_FILTER_FLAG_SPEC_ALLOW') b.warn('/flags: SECCOMP_FILTER_FLAG_SPEC_ALLOW turns off speculative-execution mitigations for the sandbox');
    flags |= FLAGS[f]!;
  });
  return flags;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
