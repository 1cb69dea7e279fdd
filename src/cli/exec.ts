/**
 * `sandbox exec [options] -- COMMAND [ARGS...]`: parsing and printing only; the work is `run()`.
 */
import { constants } from 'node:os';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { plan as buildPlanOnly, run, type RunOptions } from '../api.js';
import { EXIT_SANDBOX_FAILURE, SandboxError } from '../errors.js';
import { metaFile } from '../launch/meta.js';
import { planToJson } from '../launch/plan.js';
import type { RunSpec } from '../launch/prepare.js';
import type { Result } from '../launch/result.js';
import { COMMAND_INFO } from './commands.js';
import { openReport, print, printToStdout, refuseSameFile, writeReport, type ReportFile } from './reports.js';
import { encodeResult, type EncodedResult } from './result-json.js';
import { lastValueWins } from './single-valued.js';

interface ExecArgs {
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

const LIMIT_GROUP = 'Limits (override the policy; sizes K/M/G, durations ms/s):';

const REPORT_GROUP = 'Result:';

function builder(y: Argv): Argv<ExecArgs> {
  return lastValueWins(y, ['policy', 'workdir', 'image', 'trust-policy', 'store', 'uid-range', 'memory', 'pids', 'cpu-time',
    'wall-time', 'cpus', 'fsize', 'nofile', 'stack', 'output-limit', 'tmpfs-size', 'result', 'meta'])
    .usage('$0 exec [options] -- COMMAND [ARGS...]')
    .parserConfiguration({ 'populate--': true, 'boolean-negation': false })
    .positional('command', { type: 'string', array: true, describe: 'not here: put the command after --' })
    .option('policy', { alias: 'p', type: 'string', default: 'default', describe: 'built-in policy (default, strict, judge, ci) or a policy .json' })
    .option('bind', { type: 'string', array: true, describe: 'bind a host path: SRC:DST[:ro|rw] (default ro); repeatable' })
    .option('tmpfs', { type: 'string', array: true, describe: 'a private tmpfs: DST[:SIZE]; repeatable' })
    .option('workdir', { alias: 'w', type: 'string', describe: 'working directory inside the sandbox' })
    .option('env', { alias: 'e', type: 'string', array: true, describe: 'set a variable: NAME=VALUE; repeatable' })
    .option('image', { type: 'string', describe: 'run from an image of the store (NAME:TAG or @sha256:…), verified first' })
    .option('trust-policy', { type: 'string', describe: 'trust policy for --image (default /etc/sandbox/trust.json, or $XDG_CONFIG_HOME/sandbox/trust.json)' })
    .option('store', { type: 'string', describe: 'image store (default /var/lib/sandbox, or $XDG_DATA_HOME/sandbox)' })
    .option('dry-run', { type: 'boolean', describe: 'print the resolved LaunchPlan as JSON and run nothing' })
    .option('uid-range', { type: 'string', describe: 'as root: host uids for sandboxes, START:COUNT (default 1879048192:65536)' })
    .option('memory', { type: 'string', group: LIMIT_GROUP, describe: 'memory (swap counts as memory), e.g. 256M' })
    .option('pids', { type: 'string', group: LIMIT_GROUP, describe: 'processes and threads' })
    .option('cpu-time', { type: 'string', group: LIMIT_GROUP, describe: 'CPU time of all processes and threads, e.g. 300ms' })
    .option('wall-time', { type: 'string', group: LIMIT_GROUP, describe: 'wall-clock time, e.g. 2s' })
    .option('cpus', { type: 'string', group: LIMIT_GROUP, describe: 'CPU bandwidth in cores, e.g. 1.5' })
    .option('fsize', { type: 'string', group: LIMIT_GROUP, describe: 'largest file the workload may write, e.g. 16M' })
    .option('nofile', { type: 'string', group: LIMIT_GROUP, describe: 'open files per process' })
    .option('stack', { type: 'string', group: LIMIT_GROUP, describe: 'stack size, e.g. 8M' })
    .option('output-limit', { type: 'string', group: LIMIT_GROUP, describe: 'stdout+stderr bytes, e.g. 1M' })
    .option('tmpfs-size', { type: 'string', group: LIMIT_GROUP, describe: 'size of /tmp (and the default of --tmpfs), e.g. 64M' })
    .option('json', { type: 'boolean', group: REPORT_GROUP, describe: 'print only the Result as JSON on stdout (the workload\'s output is in it)' })
    .option('result', { type: 'string', group: REPORT_GROUP, describe: 'write the Result as JSON to FILE' })
    .option('meta', { type: 'string', group: REPORT_GROUP, describe: 'write an isolate-compatible meta file to FILE' })
    .example('$0 exec --policy strict -- /bin/echo hello', '')
    .example('$0 exec --bind ./work:/work:rw --workdir /work -- sh -c "make"', '')
    .example('$0 exec --policy judge --cpu-time 1s --memory 256M --meta meta.txt -- ./a.out', '') as unknown as Argv<ExecArgs>;
}

function commandFrom(argv: ArgumentsCamelCase<ExecArgs>): string[] {
  const rest = argv['--'];
  if ((argv.command?.length ?? 0) > 0 || !rest || (rest.length === 0 && !argv.image)) {
    throw new SandboxError('USAGE', 'missing `-- COMMAND`: put the command after `--`, e.g. sandbox exec -- /bin/true');
  }
  return rest.map(String);
}

/**
 * A numeric flag, read here rather than by yargs (whose `number` type turns `--pids abc` into NaN, and
 * the message could then not show what was typed). Its range is checked with the policy's values.
 */
function numberFlag(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) throw new SandboxError('USAGE', `${flag}: '${text}' is not a number`);
  return n;
}

function specFrom(argv: ArgumentsCamelCase<ExecArgs>): RunSpec {
  const optional = <K extends keyof RunSpec>(k: K, v: RunSpec[K] | undefined): Partial<RunSpec> => (v === undefined ? {} : { [k]: v });
  return {
    command: commandFrom(argv),
    policy: argv.policy,
    ...optional('bind', argv.bind),
    ...optional('tmpfs', argv.tmpfs),
    ...optional('workdir', argv.workdir),
    ...optional('env', argv.env),
    ...optional('uidRange', argv.uidRange),
    ...optional('image', argv.image),
    ...optional('trustPolicy', argv.trustPolicy),
    ...optional('store', argv.store),
    ...optional('memory', argv.memory),
    ...optional('pids', numberFlag(argv.pids, '--pids')),
    ...optional('cpuTime', argv.cpuTime),
    ...optional('wallTime', argv.wallTime),
    ...optional('cpus', numberFlag(argv.cpus, '--cpus')),
    ...optional('fsize', argv.fsize),
    ...optional('nofile', numberFlag(argv.nofile, '--nofile')),
    ...optional('stack', argv.stack),
    ...optional('outputLimit', argv.outputLimit),
    ...optional('tmpfsSize', argv.tmpfsSize),
  };
}

/** SIGINT/SIGTERM/SIGHUP to `sandbox` kill the whole sandbox and clean up; the run is then reported
 * as aborted, with 128+N (withAbortSignal). */
function abortOnSignals(): { signal: AbortSignal; received: () => NodeJS.Signals | null; dispose: () => void } {
  const controller = new AbortController();
  let received: NodeJS.Signals | null = null;
  const handler = (sig: NodeJS.Signals) => {
    received ??= sig;
    controller.abort();
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, handler);
  return {
    signal: controller.signal,
    received: () => received,
    dispose: () => { for (const s of signals) process.off(s, handler); },
  };
}

/**
 * A run that our signal aborted says so with the status the CLI exits with, 128+N for that signal, so
 * the --result/--meta files and the exit status agree. A signal that came after the run had ended
 * aborted nothing: the run's own Result stands, and is the exit status.
 */
function withAbortSignal(r: Result, sig: NodeJS.Signals | null): Result {
  if (sig === null || r.killReason !== 'aborted') return r;
  return { ...r, exitCode: 128 + constants.signals[sig], message: `aborted: sandbox got ${sig}, so the sandbox was killed` };
}

/** Without --json the Result is not printed: a run that did not end on its own is explained on stderr. */
async function explainOnStderr(result: Result): Promise<void> {
  if (result.status === 'OK' || result.status === 'RE' || result.status === 'SG') return;
  // Sandbox failures carry their stable code, as reportFatal prints them.
  const code = result.exitCode === EXIT_SANDBOX_FAILURE && result.error ? ` [${result.error.code}]` : '';
  // A stderr that cannot be written leaves nowhere to say so: the exit status still tells.
  await print(process.stderr, `sandbox: ${result.message}${code}\n`);
}

/**
 * The Result to the report files and (--json) stdout, each written where possible; returns what could
 * not be, in words (the CLI then fails with all of it on one line).
 */
async function report(encoded: EncodedResult, files: { result: ReportFile | null; meta: ReportFile | null }, json: boolean): Promise<string[]> {
  const problems = [
    encoded.tooLarge,
    writeReport(files.result, encoded.json),
    writeReport(files.meta, metaFile(encoded.result)),
    json ? await printToStdout(encoded.json, 'the Result') : null,
  ];
  if (!json) await explainOnStderr(encoded.result);
  return problems.filter((p): p is string => p !== null);
}

async function handler(argv: ArgumentsCamelCase<ExecArgs>): Promise<void> {
  const spec = specFrom(argv);
  if (argv.dryRun) {
    const failed = await printToStdout(`${JSON.stringify(planToJson(await buildPlanOnly(spec)), null, 2)}\n`, 'the plan');
    if (failed) throw new SandboxError('USAGE', failed);
    return;
  }
  const files = { result: openReport(argv.result, '--result'), meta: openReport(argv.meta, '--meta') };
  refuseSameFile(files.result, files.meta);
  const signals = abortOnSignals();
  try {
    // With --json, stdout carries the Result only: the workload's output is captured into it.
    const io: Pick<RunOptions, 'stdin' | 'stdout' | 'stderr'> = argv.json
      ? { stdin: 'inherit', stdout: 'buffer', stderr: 'buffer' }
      : { stdin: 'inherit', stdout: 'inherit', stderr: 'inherit' };
    // one run per process: spawning the launcher is cheaper than starting a zygote for it
    const ran = await run({ ...spec, ...io, signal: signals.signal, launcher: 'spawn' });
    const encoded = encodeResult(withAbortSignal(ran, signals.received()));
    const problems = await report(encoded, files, argv.json === true);
    if (problems.length > 0) throw new SandboxError('USAGE', problems.join('; '));
    process.exitCode = encoded.result.exitCode;
  } finally {
    signals.dispose();
  }
}

export const execCommand: CommandModule<object, ExecArgs> = {
  ...COMMAND_INFO.exec,
  builder,
  handler,
};
