/**
 * What a caller asks for (`run()` options / `sandbox exec` flags), and the checks on the parts that are
 * not policy: the command line, the environment, the working directory. Each refusal names what is
 * wrong and what to write instead, before anything is created.
 */
import { SandboxError } from '../errors.js';
import type { LimitOverrides } from '../limits/spec.js';
import type { BindSpec, TmpfsSpec } from '../policy/types.js';
import { clip, MAX_PATH_BYTES, PLAN_MAX } from './wire.js';

export interface RunSpec extends LimitOverrides {
  /** the command and its arguments */
  command: string[];
  /** a built-in policy name or a path to a policy file (default: 'default') */
  policy?: string;
  /** "SRC:DST[:ro|rw]" or objects; added after the policy's binds */
  bind?: (string | BindSpec)[];
  /** "DST[:SIZE]" or objects */
  tmpfs?: (string | TmpfsSpec)[];
  workdir?: string;
  /** extra environment, applied last: { K: V } or ["K=V"] */
  env?: Record<string, string> | string[];
  /** directory that relative bind sources and policy paths are resolved against (default: process.cwd()) */
  cwd?: string;
  /** host uid range for runs started by root, "START:COUNT" (default 1879048192:65536) */
  uidRange?: string;
  /** run from this image reference in the image store */
  image?: string;
  /** trust policy file for images (default /etc/sandbox/trust.json or $XDG_CONFIG_HOME/sandbox/trust.json) */
  trustPolicy?: string;
  /** image store root (default /var/lib/sandbox or $XDG_DATA_HOME/sandbox) */
  store?: string;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** One argument or environment entry: the kernel's MAX_ARG_STRLEN less the NUL (the launcher's limit too). */
const MAX_ARG_BYTES = PLAN_MAX.ARG;
/** A conservative ARG_MAX (8 MiB stack / 4). */
const MAX_ARGS_TOTAL = 2 * 1024 * 1024;

/** Options that are strings: a number or an object there would be used as its text, or throw a TypeError. */
const STRING_OPTIONS = ['policy', 'workdir', 'cwd', 'uidRange', 'image', 'trustPolicy', 'store'] as const;

/**
 * The types of `run()` options, which TypeScript checks for TypeScript callers only: from JavaScript a
 * wrong type threw a TypeError from deep inside instead of the Result run() promises. Refused here,
 * naming the option. The values inside `command`, `env`, `bind` and `tmpfs` are checked where they are
 * read (checkCommand, parseEnv, binds.ts), the limits by their parsers (limits/spec.ts).
 */
export function checkSpecTypes(spec: unknown): asserts spec is RunSpec {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw new SandboxError('USAGE', `the options must be an object ({ command: ['prog', 'arg'] }), not ${kindOf(spec)}`);
  }
  const o = spec as Record<string, unknown>;
  if (!Array.isArray(o['command'])) throw new SandboxError('USAGE', `command must be an array of strings (['prog', 'arg']), not ${kindOf(o['command'])}`);
  for (const k of STRING_OPTIONS) {
    if (o[k] !== undefined && typeof o[k] !== 'string') throw new SandboxError('USAGE', `${k} must be a string, not ${kindOf(o[k])}`);
  }
  for (const k of ['bind', 'tmpfs'] as const) {
    if (o[k] !== undefined && !Array.isArray(o[k])) throw new SandboxError('USAGE', `${k} must be an array, not ${kindOf(o[k])}`);
  }
}

/** What a value is, for a message about a wrong type (library callers are not type-checked). */
export function kindOf(v: unknown): string {
  const type = typeof v;
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`;
}

/** A path the kernel and the launcher take: no NUL (C strings end there), at most PATH_MAX - 1 bytes. */
export function checkPathString(path: string, what: string): void {
  if (path.includes('\0')) throw new SandboxError('USAGE', `${what} contains a NUL byte; remove it`);
  const n = Buffer.byteLength(path);
  if (n > MAX_PATH_BYTES) throw new SandboxError('USAGE', `${what} is ${n} bytes; a path has at most ${MAX_PATH_BYTES} (PATH_MAX): shorten it`);
}

/** What execve would refuse, refused here with a clear message instead of deep in the launcher. */
export function checkCommand(argv: string[], env: Record<string, string>): void {
  if (argv.length === 0 || argv[0] === '') throw new SandboxError('USAGE', 'no command given: put the command after --');
  argv.forEach((a, i) => {
    if (typeof a !== 'string') throw new SandboxError('USAGE', `command[${i}] must be a string, not ${kindOf(a)}: give every argument as a string`);
  });
  const entries = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  for (const [what, n] of [['arguments', argv.length], ['environment variables', entries.length]] as const) {
    if (n > PLAN_MAX.ARGS) throw new SandboxError('USAGE', `${n} ${what}; the sandbox accepts at most ${PLAN_MAX.ARGS} (pass large data through a file or stdin)`);
  }
  let total = 0;
  for (const s of [...argv, ...entries]) {
    const n = Buffer.byteLength(s);
    if (s.includes('\0')) throw new SandboxError('USAGE', 'an argument or environment value contains a NUL byte');
    if (n > MAX_ARG_BYTES) throw new SandboxError('USAGE', `an argument or environment entry is ${n} bytes; the kernel accepts at most ${MAX_ARG_BYTES} (pass large data through a file or stdin)`);
    total += n + 1;
  }
  if (total > MAX_ARGS_TOTAL) throw new SandboxError('USAGE', `the arguments and environment are ${total} bytes; at most ${MAX_ARGS_TOTAL} are allowed (argument list too long)`);
}

function envPairs(env: NonNullable<RunSpec['env']>): [string, unknown][] {
  if (Array.isArray(env)) {
    return env.map((kv: unknown, i) => {
      if (typeof kv !== 'string') throw new SandboxError('USAGE', `env[${i}] must be a string 'NAME=VALUE', not ${kindOf(kv)}`);
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new SandboxError('USAGE', `--env '${clip(kv)}': write NAME=VALUE`);
      return [kv.slice(0, eq), kv.slice(eq + 1)];
    });
  }
  if (typeof env !== 'object' || env === null) throw new SandboxError('USAGE', `env must be { NAME: 'value' } or ['NAME=value'], not ${kindOf(env)}`);
  return Object.entries(env);
}

export function parseEnv(env: RunSpec['env']): Record<string, string> {
  if (env === undefined) return {};
  const pairs = envPairs(env);
  for (const [k, v] of pairs) {
    if (!ENV_NAME.test(k)) throw new SandboxError('USAGE', `--env: '${clip(k)}' is not a valid variable name (letters, digits, _; not starting with a digit)`);
    // no String(v): a number or an object passed by mistake is named, not sent as its text
    if (typeof v !== 'string') throw new SandboxError('USAGE', `env ${k}: the value must be a string, not ${kindOf(v)}`);
    if (v.includes('\0')) throw new SandboxError('USAGE', `--env ${k}: the value contains a NUL byte`);
  }
  return Object.fromEntries(pairs) as Record<string, string>;
}

export function checkWorkdir(dir: string): string {
  if (typeof dir !== 'string') throw new SandboxError('USAGE', `workdir must be a string, not ${kindOf(dir)}`);
  checkPathString(dir, '--workdir');
  const canonical = dir === '/' || (dir.startsWith('/') && dir.slice(1).split('/').every((c) => c !== '' && c !== '.' && c !== '..'));
  if (!canonical) {
    throw new SandboxError('USAGE', `--workdir '${dir}' must be an absolute path without '.', '..' or empty components`);
  }
  return dir;
}
