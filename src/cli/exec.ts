/**
 * `sandbox exec [options] -- COMMAND [ARGS...]`: parsing and printing only; the work is `run()`.
 */
import { constants } from 'node:os';
import type { Argv, CommandModule } from 'yargs';
import { plan as buildPlanOnly, run, type RunOptions } from '../api.js';
import { EXIT_SANDBOX_FAILURE, SandboxError } from '../errors.js';
import { metaFile } from '../launch/meta.js';
import { planToJson } from '../launch/plan.js';
import type { RunSpec } from '../launch/prepare.js';
import type { Result } from '../launch/result.js';
import { COMMAND_INFO } from './commands.js';
import { EXEC_OPTIONS, EXEC_PARSER_CONFIGURATION, ONE_VALUE, SINGLE_VALUED, type ExecArgs } from './exec-options.js';
import { openReport, print, printToStdout, refuseSameFile, writeReport, type ReportFile } from './reports.js';
import { encodeResult, type EncodedResult } from './result-json.js';
import { lastValueWins } from './single-valued.js';

function builder(y: Argv): Argv<ExecArgs> {
  return lastValueWins(y, SINGLE_VALUED)
    .usage('$0 exec [options] -- COMMAND [ARGS...]')
    .parserConfiguration(EXEC_PARSER_CONFIGURATION)
    .positional('command', { type: 'string', array: true, describe: 'not here: put the command after --' })
    .options(EXEC_OPTIONS)
    .nargs(ONE_VALUE)
    .example('$0 exec --policy strict -- /bin/echo hello', '')
    .example('$0 exec --bind ./work:/work:rw --workdir /work -- sh -c "make"', '')
    .example('$0 exec --policy judge --cpu-time 1s --memory 256M --meta meta.txt -- ./a.out', '') as unknown as Argv<ExecArgs>;
}

/**
 * The words after `--`. Neither parser gives an empty `--` (a bare trailing `--` is no `--` key), so
 * with --image and no command at all, `--` or not, the command is empty: the image's Entrypoint/Cmd.
 */
function commandFrom(argv: ExecArgs): string[] {
  const stray = argv.command ?? [];
  const rest = argv['--'] ?? (argv.image && stray.length === 0 ? [] : undefined);
  if (stray.length > 0 && rest !== undefined) {
    throw new SandboxError('USAGE', `'${String(stray[0])}' before \`--\` is neither an option nor its value (each flag takes one value; repeat it for more): put the command after \`--\``);
  }
  if (stray.length > 0 || !rest) {
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

function specFrom(argv: ExecArgs): RunSpec {
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
    await writeReport(files.result, encoded.json),
    await writeReport(files.meta, metaFile(encoded.result)),
    json ? await printToStdout(encoded.json, 'the Result') : null,
  ];
  if (!json) await explainOnStderr(encoded.result);
  return problems.filter((p): p is string => p !== null);
}

/** `sandbox exec`, once its command line is parsed (by yargs, or by exec-fast-path.ts). */
export async function execHandler(argv: ExecArgs): Promise<void> {
  const spec = specFrom(argv);
  if (argv.dryRun) {
    const failed = await printToStdout(`${JSON.stringify(planToJson(await buildPlanOnly(spec)), null, 2)}\n`, 'the plan');
    if (failed) throw new SandboxError('USAGE', failed);
    return;
  }
  const files = { result: openReport(argv.result, '--result', argv.json === true), meta: openReport(argv.meta, '--meta', argv.json === true) };
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
  handler: execHandler,
};
