/**
 * `sandbox exec`'s options, in one table: yargs' builder (exec.ts) declares them from it, and the
 * parser of the common case (exec-fast-path.ts) derives its configuration from it, so the two cannot
 * disagree about a flag's name, alias, type or default.
 */

/** What yargs' option() is given, narrowed to what exec uses (exec-fast-path.ts reads the same). */
export interface ExecOption {
  type: 'string' | 'boolean';
  alias?: string;
  array?: true;
  default?: string;
  group?: string;
  describe: string;
}

const LIMIT_GROUP = 'Limits (override the policy; sizes K/M/G, durations ms/s):';
const REPORT_GROUP = 'Result:';

export const EXEC_OPTIONS = {
  policy: { alias: 'p', type: 'string', default: 'default', describe: 'built-in policy (default, strict, judge, ci) or a policy .json' },
  bind: { type: 'string', array: true, describe: 'bind a host path: SRC:DST[:ro|rw] (default ro); repeatable' },
  tmpfs: { type: 'string', array: true, describe: 'a private tmpfs: DST[:SIZE]; repeatable' },
  workdir: { alias: 'w', type: 'string', describe: 'working directory inside the sandbox' },
  env: { alias: 'e', type: 'string', array: true, describe: 'set a variable: NAME=VALUE; repeatable' },
  image: { type: 'string', describe: 'run from an image of the store (NAME:TAG or @sha256:…), verified first' },
  'trust-policy': { type: 'string', describe: 'trust policy for --image (default /etc/sandbox/trust.json, or $XDG_CONFIG_HOME/sandbox/trust.json)' },
  store: { type: 'string', describe: 'image store (default /var/lib/sandbox, or $XDG_DATA_HOME/sandbox)' },
  'dry-run': { type: 'boolean', describe: 'print the resolved LaunchPlan as JSON and run nothing' },
  'uid-range': { type: 'string', describe: 'as root: host uids for sandboxes, START:COUNT (default 1879048192:65536)' },
  memory: { type: 'string', group: LIMIT_GROUP, describe: 'memory (swap counts as memory), e.g. 256M' },
  pids: { type: 'string', group: LIMIT_GROUP, describe: 'processes and threads' },
  'cpu-time': { type: 'string', group: LIMIT_GROUP, describe: 'CPU time of all processes and threads, e.g. 300ms' },
  'wall-time': { type: 'string', group: LIMIT_GROUP, describe: 'wall-clock time, e.g. 2s' },
  cpus: { type: 'string', group: LIMIT_GROUP, describe: 'CPU bandwidth in cores, e.g. 1.5' },
  fsize: { type: 'string', group: LIMIT_GROUP, describe: 'largest file the workload may write, e.g. 16M' },
  nofile: { type: 'string', group: LIMIT_GROUP, describe: 'open files per process' },
  stack: { type: 'string', group: LIMIT_GROUP, describe: 'stack size, e.g. 8M' },
  'output-limit': { type: 'string', group: LIMIT_GROUP, describe: 'stdout+stderr bytes, e.g. 1M' },
  'tmpfs-size': { type: 'string', group: LIMIT_GROUP, describe: 'size of /tmp (and the default of --tmpfs), e.g. 64M' },
  json: { type: 'boolean', group: REPORT_GROUP, describe: 'print only the Result as JSON on stdout (the workload\'s output is in it)' },
  result: { type: 'string', group: REPORT_GROUP, describe: 'write the Result as JSON to FILE (or /dev/stdout, /dev/stderr)' },
  meta: { type: 'string', group: REPORT_GROUP, describe: 'write an isolate-compatible meta file to FILE (or /dev/stdout, /dev/stderr)' },
} as const satisfies Record<string, ExecOption>;

export type ExecOptionName = keyof typeof EXEC_OPTIONS;

/**
 * Every flag that takes a value takes exactly one (yargs' nargs 1): a value left out is an error
 * ("Not enough arguments following: policy"). yargs otherwise ignored it: `--policy -- cmd` (a
 * script's empty $POLICY) ran the default policy, `--workdir -- cmd` gave '', `--bind -- cmd` no bind.
 */
export const ONE_VALUE: Record<string, 1> = Object.fromEntries((Object.keys(EXEC_OPTIONS) as ExecOptionName[])
  .filter((name) => execOption(name).type === 'string').map((name) => [name, 1]));

/** The flags that take one value: given twice, the last counts (single-valued.ts). */
export const SINGLE_VALUED = (Object.keys(EXEC_OPTIONS) as ExecOptionName[])
  .filter((name) => execOption(name).type === 'string' && !execOption(name).array);

export function execOption(name: ExecOptionName): ExecOption {
  return EXEC_OPTIONS[name];
}

/**
 * Parser configuration of `sandbox exec` (yargs-parser's names): the rest of the line after `--` is
 * the command; `--no-json` is not `--json false`; and the command's words stay words — by default yargs
 * turns those that look like numbers into numbers, so `sandbox exec -- echo 0x10 5.0` printed `16 5`.
 */
export const EXEC_PARSER_CONFIGURATION = { 'populate--': true, 'boolean-negation': false, 'parse-positional-numbers': false } as const;

/** The parsed command line a handler gets, with yargs' camelCase names. */
export interface ExecArgs {
  policy: string;
  bind?: string[];
  tmpfs?: string[];
  workdir?: string;
  env?: string[];
  dryRun?: boolean;
  uidRange?: string;
  image?: string;
  trustPolicy?: string;
  store?: string;
  memory?: string;
  pids?: string;
  cpuTime?: string;
  wallTime?: string;
  cpus?: string;
  fsize?: string;
  nofile?: string;
  stack?: string;
  outputLimit?: string;
  tmpfsSize?: string;
  json?: boolean;
  result?: string;
  meta?: string;
  command?: (string | number)[];
  '--'?: (string | number)[];
}
