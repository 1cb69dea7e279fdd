/**
 * Our own seccomp section format (schema.json, "$id": "sandbox-seccomp-section") → FilterIR.
 *
 *   { "defaultAction": "errno", "defaultErrno": "EPERM", "badArchAction": "kill_process",
 *     "syscalls": [ { "names": ["@file-system", "read"], "action": "allow" },
 *                   { "names": ["ioctl"], "action": "errno", "errno": "EPERM",
 *                     "args": [{ "index": 1, "op": "eq", "value": "TIOCSTI" }] } ] }
 *
 * Differences from OCI, on purpose: all conditions of a rule are ANDed (also on one index, so
 * ranges can be written); a rule whose action equals the default is kept, because with "the most
 * restrictive matching rule wins" it is how an exception is carved out of a broader allow
 * (deny ioctl TIOCSTI inside an allowed ioctl).
 */
import { type Action, type ActionKind, ACTION_KINDS, MAX_ERRNO } from '../actions.js';
import { ERRNO } from '../constants.js';
import { SeccompError } from '../errors.js';
import { groupMembers } from '../groups.js';
import { RuleBuilder, type RawCondition } from './builder.js';
import { type ResolvedContext } from './context.js';
import { type CmpOp } from './ir.js';
import { type ParsedProfile } from './parsed.js';
import { toU64 } from './values.js';

const TOP_KEYS = new Set(['$schema', 'comment', 'defaultAction', 'defaultErrno', 'badArchAction', 'syscalls']);
const RULE_KEYS = new Set(['names', 'action', 'errno', 'data', 'args', 'comment']);
const ARG_KEYS = new Set(['index', 'op', 'value', 'mask']);
const VALUE_OPS: readonly string[] = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'];
const MASK_OPS: readonly string[] = ['masked_eq', 'any_set', 'none_set'];

export function parseNativeProfile(p: unknown, ctx: ResolvedContext): ParsedProfile {
  if (!isObject(p)) throw new SeccompError('PROFILE_INVALID', 'a seccomp section is a JSON object', '');
  for (const k of Object.keys(p)) {
    if (!TOP_KEYS.has(k)) throw new SeccompError('PROFILE_INVALID', `unknown field ${JSON.stringify(k)}; allowed: ${[...TOP_KEYS].join(', ')}`, `/${k}`);
  }
  if (p.defaultAction === undefined) throw new SeccompError('PROFILE_INVALID', 'defaultAction is required', '/defaultAction');
  if (p.defaultErrno !== undefined && p.defaultAction !== 'errno') {
    throw new SeccompError('PROFILE_INVALID', 'defaultErrno is only allowed when defaultAction is "errno"', '/defaultErrno');
  }
  const defaultAction = action(p.defaultAction, p.defaultErrno, undefined, '/defaultAction', '/defaultErrno');
  const badArchAction = p.badArchAction === undefined
    ? { kind: 'kill_process' as const, data: 0 }
    : action(p.badArchAction, undefined, undefined, '/badArchAction', '');
  if (badArchAction.kind === 'allow' || badArchAction.kind === 'log') {
    // Letting a compat ABI through would bypass every rule (its syscall numbers mean other syscalls).
    throw new SeccompError('PROFILE_INVALID', 'badArchAction must deny (kill_process, kill_thread, trap or errno)', '/badArchAction');
  }
  const b = new RuleBuilder(ctx.arch, ctx.strict);
  const rules = p.syscalls ?? [];
  if (!Array.isArray(rules)) throw new SeccompError('PROFILE_INVALID', 'expected an array of rules', '/syscalls');
  rules.forEach((r, i) => addRule(r, `/syscalls/${i}`, b));
  return { format: 'sandbox', defaultAction, badArchAction, builder: b, flags: 0 };
}

function addRule(r: unknown, ptr: string, b: RuleBuilder): void {
  if (!isObject(r)) throw new SeccompError('PROFILE_INVALID', 'a rule is an object {names, action, ...}', ptr);
  for (const k of Object.keys(r)) {
    if (!RULE_KEYS.has(k)) throw new SeccompError('PROFILE_INVALID', `unknown field ${JSON.stringify(k)}; allowed: ${[...RULE_KEYS].join(', ')}`, `${ptr}/${k}`);
  }
  const names = r.names;
  if (!Array.isArray(names) || names.length === 0 || !names.every((n) => typeof n === 'string' && n !== '')) {
    throw new SeccompError('PROFILE_INVALID', 'names is a non-empty array of syscall names and @groups', `${ptr}/names`);
  }
  if (r.errno !== undefined && r.action !== 'errno') throw new SeccompError('PROFILE_INVALID', 'errno is only allowed with action "errno"', `${ptr}/errno`);
  if (r.data !== undefined && r.action !== 'trace' && r.action !== 'trap') {
    throw new SeccompError('PROFILE_INVALID', 'data is only allowed with action "trace" or "trap"', `${ptr}/data`);
  }
  const act = action(r.action, r.errno, r.data, `${ptr}/action`, r.errno !== undefined ? `${ptr}/errno` : `${ptr}/data`);
  const conds = parseArgs(r.args, `${ptr}/args`);
  (names as string[]).forEach((name, j) => {
    const namePtr = `${ptr}/names/${j}`;
    if (name.startsWith('@')) {
      const members = groupMembers(name);
      if (!members) throw new SeccompError('UNKNOWN_GROUP', `unknown group ${name}`, namePtr);
      for (const m of members) b.add(m, act, conds, namePtr, true);
    } else {
      b.add(name, act, conds, namePtr);
    }
  });
}

function action(kind: unknown, errno: unknown, data: unknown, ptr: string, dataPtr: string): Action {
  if (typeof kind !== 'string' || !ACTION_KINDS.includes(kind as ActionKind)) {
    throw new SeccompError('PROFILE_INVALID', `unknown action ${JSON.stringify(kind)}; expected one of ${ACTION_KINDS.join(', ')}`, ptr);
  }
  const k = kind as ActionKind;
  if (k === 'errno') return { kind: k, data: errnoValue(errno ?? 'EPERM', dataPtr) };
  if (k === 'trace' || k === 'trap') {
    if (data === undefined) return { kind: k, data: 0 };
    if (typeof data !== 'number' || !Number.isInteger(data) || data < 0 || data > 0xffff) {
      throw new SeccompError('VALUE_RANGE', 'data must be an integer 0..65535', dataPtr);
    }
    return { kind: k, data };
  }
  return { kind: k, data: 0 };
}

function errnoValue(v: unknown, ptr: string): number {
  if (typeof v === 'string') {
    const n = ERRNO[v];
    if (n === undefined || !Object.prototype.hasOwnProperty.call(ERRNO, v)) {
      throw new SeccompError('UNKNOWN_CONSTANT', `unknown errno name ${JSON.stringify(v)}; use a name like EPERM or a number 1..${MAX_ERRNO}`, ptr);
    }
    return n;
  }
  // The kernel clamps larger values to MAX_ERRNO and 0 would fake success: only 1..4095 mean what they say.
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_ERRNO) {
    throw new SeccompError('VALUE_RANGE', `errno must be 1..${MAX_ERRNO} or a name like EPERM`, ptr);
  }
  return v;
}

function parseArgs(args: unknown, ptr: string): RawCondition[] {
  if (args === undefined) return [];
  if (!Array.isArray(args)) throw new SeccompError('PROFILE_INVALID', 'args is an array of conditions', ptr);
  if (args.length > 16) throw new SeccompError('VALUE_RANGE', 'at most 16 conditions per rule', ptr);
  return args.map((a, i) => {
    const p = `${ptr}/${i}`;
    if (!isObject(a)) throw new SeccompError('PROFILE_INVALID', 'a condition is an object {index, op, value|mask}', p);
    for (const k of Object.keys(a)) {
      if (!ARG_KEYS.has(k)) throw new SeccompError('PROFILE_INVALID', `unknown field ${JSON.stringify(k)}; allowed: index, op, value, mask`, `${p}/${k}`);
    }
    const index = a.index;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > 5) {
      throw new SeccompError('VALUE_RANGE', 'index must be an integer 0..5', `${p}/index`);
    }
    const op = a.op;
    if (typeof op !== 'string' || (!VALUE_OPS.includes(op) && !MASK_OPS.includes(op))) {
      throw new SeccompError('PROFILE_INVALID', `unknown op ${JSON.stringify(op)}; expected one of ${[...VALUE_OPS, ...MASK_OPS].join(', ')}`, `${p}/op`);
    }
    if (VALUE_OPS.includes(op)) {
      if (a.mask !== undefined) throw new SeccompError('PROFILE_INVALID', `op ${op} takes a value, not a mask`, `${p}/mask`);
      if (a.value === undefined) throw new SeccompError('PROFILE_INVALID', `op ${op} needs a value`, `${p}/value`);
      return { index, op: op as CmpOp, value: toU64(a.value, `${p}/value`, true), mask: 0n, pointer: p };
    }
    if (a.mask === undefined) throw new SeccompError('PROFILE_INVALID', `op ${op} needs a mask`, `${p}/mask`);
    const mask = toU64(a.mask, `${p}/mask`, true);
    if (op === 'masked_eq') {
      if (a.value === undefined) throw new SeccompError('PROFILE_INVALID', 'op masked_eq needs a value', `${p}/value`);
      const value = toU64(a.value, `${p}/value`, true);
      // (arg & mask) can never have bits outside the mask: such a rule could never match.
      if (value & ~mask & 0xffffffffffffffffn) {
        throw new SeccompError('VALUE_RANGE', `value 0x${value.toString(16)} has bits outside mask 0x${mask.toString(16)}; (arg & mask) can never equal it`, `${p}/value`);
      }
      return { index, op: 'masked_eq', value, mask, pointer: p };
    }
    if (a.value !== undefined) throw new SeccompError('PROFILE_INVALID', `op ${op} takes only a mask`, `${p}/value`);
    // none_set is masked_eq with value 0: (arg & mask) == 0.
    return op === 'none_set'
      ? { index, op: 'masked_eq', value: 0n, mask, pointer: p }
      : { index, op: 'any_set', value: 0n, mask, pointer: p };
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
