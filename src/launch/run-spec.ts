/**
 * What a caller asks for (`run()` options / `sandbox exec` flags), and the checks on the parts that are
 * not policy: the command line, the environment, the working directory. Each refusal names what is
 * wrong and what to write instead, before anything is created.
 */
import { SandboxError } from '../errors.js';
import type { LimitOverrides } from '../limits/spec.js';
import type { BindSpec, TmpfsSpec } from '../policy/types.js';

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

/** The kernel's MAX_ARG_STRLEN (less the NUL) and a conservative ARG_MAX (8 MiB stack / 4). */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_ARG_BYTES = 131071;
const MAX_ARGS_TOTAL = 2 * 1024 * 1024;

/** What execve would refuse, refused here with a clear message instead of deep in the launcher. */
export function checkCommand(argv: string[], env: Record<string, string>): void {
  if (argv.length === 0 || argv[0] === '') throw new SandboxError('USAGE', 'no command given: put the command after --');
  let total = 0;
  for (const s of [...argv, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)]) {
    const n = Buffer.byteLength(s);
    if (s.includes('\0')) throw new SandboxError('USAGE', 'an argument or environment value contains a NUL byte');
    if (n > MAX_ARG_BYTES) throw new SandboxError('USAGE', `an argument or environment entry is ${n} bytes; the kernel accepts at most ${MAX_ARG_BYTES} (pass large data through a file or stdin)`);
    total += n + 1;
  }
  if (total > MAX_ARGS_TOTAL) throw new SandboxError('USAGE', `the arguments and environment are ${total} bytes; at most ${MAX_ARGS_TOTAL} are allowed (argument list too long)`);
}

export function parseEnv(env: RunSpec['env']): Record<string, string> {
  if (!env) return {};
  const pairs: [string, string][] = Array.isArray(env)
    ? env.map((kv) => {
      const i = kv.indexOf('=');
      if (i <= 0) throw new SandboxError('USAGE', `--env '${kv}': write NAME=VALUE`);
      return [kv.slice(0, i), kv.slice(i + 1)];
    })
    : Object.entries(env);
  for (const [k, v] of pairs) {
    if (!ENV_NAME.test(k)) throw new SandboxError('USAGE', `--env: '${k}' is not a valid variable name (letters, digits, _; not starting with a digit)`);
    if (v.includes('\0')) throw new SandboxError('USAGE', `--env ${k}: the value contains a NUL byte`);
  }
  return Object.fromEntries(pairs);
}

export function checkWorkdir(dir: string): string {
  const canonical = dir === '/' || (dir.startsWith('/') && dir.slice(1).split('/').every((c) => c !== '' && c !== '.' && c !== '..'));
  if (!canonical) {
    throw new SandboxError('USAGE', `--workdir '${dir}' must be an absolute path without '.', '..' or empty components`);
  }
  return dir;
}

