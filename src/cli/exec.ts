/**
 * `sandbox exec [options] -- COMMAND [ARGS...]`: parsing and printing only; the work is `run()`.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { plan as buildPlanOnly, run } from '../api.js';
import { SandboxError } from '../errors.js';
import { planToJson } from '../launch/plan.js';
import type { RunSpec } from '../launch/prepare.js';

interface ExecArgs {
  policy: string;
  bind?: string[];
  tmpfs?: string[];
  workdir?: string;
  env?: string[];
  dryRun?: boolean;
  uidRange?: string;
  command?: (string | number)[];
  '--'?: (string | number)[];
}

function builder(y: Argv): Argv<ExecArgs> {
  return y
    .usage('$0 exec [options] -- COMMAND [ARGS...]')
    .positional('command', { type: 'string', array: true, describe: 'not here: put the command after --', hidden: true })
    .parserConfiguration({ 'populate--': true, 'boolean-negation': false })
    .option('policy', { alias: 'p', type: 'string', default: 'default', describe: 'built-in policy name (default, strict, …) or path to a policy .json' })
    .option('bind', { type: 'string', array: true, describe: 'bind a host path: SRC:DST[:ro|rw] (default ro); repeatable' })
    .option('tmpfs', { type: 'string', array: true, describe: 'a private tmpfs: DST[:SIZE]; repeatable' })
    .option('workdir', { alias: 'w', type: 'string', describe: 'working directory inside the sandbox' })
    .option('env', { alias: 'e', type: 'string', array: true, describe: 'set a variable: NAME=VALUE; repeatable' })
    .option('dry-run', { type: 'boolean', describe: 'print the resolved LaunchPlan as JSON and run nothing' })
    .option('uid-range', { type: 'string', describe: 'as root: host uids for sandboxes, START:COUNT (default 1879048192:65536)' })
    .example('$0 exec --policy strict -- /bin/echo hello', '')
    .example('$0 exec --bind ./work:/work:rw --workdir /work -- sh -c "make"', '') as unknown as Argv<ExecArgs>;
}

function commandFrom(argv: ArgumentsCamelCase<ExecArgs>): string[] {
  const rest = argv['--'];
  if ((argv.command?.length ?? 0) > 0 || !rest || rest.length === 0) {
    throw new SandboxError('USAGE', 'missing `-- COMMAND`: put the command after `--`, e.g. sandbox exec -- /bin/true');
  }
  return rest.map(String);
}

function specFrom(argv: ArgumentsCamelCase<ExecArgs>): RunSpec {
  return {
    command: commandFrom(argv),
    policy: argv.policy,
    ...(argv.bind ? { bind: argv.bind } : {}),
    ...(argv.tmpfs ? { tmpfs: argv.tmpfs } : {}),
    ...(argv.workdir !== undefined ? { workdir: argv.workdir } : {}),
    ...(argv.env ? { env: argv.env } : {}),
    ...(argv.uidRange !== undefined ? { uidRange: argv.uidRange } : {}),
  };
}

/** SIGINT/SIGTERM/SIGHUP to `sandbox` kill the whole sandbox, clean up, then exit 128+N. */
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

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

async function handler(argv: ArgumentsCamelCase<ExecArgs>): Promise<void> {
  const spec = specFrom(argv);
  if (argv.dryRun) {
    process.stdout.write(`${JSON.stringify(planToJson(await buildPlanOnly(spec)), null, 2)}\n`);
    return;
  }
  const signals = abortOnSignals();
  try {
    const result = await run({ ...spec, stdin: 'inherit', stdout: 'inherit', stderr: 'inherit', signal: signals.signal });
    if (result.status === 'XX' || result.status === 'TO') process.stderr.write(`sandbox: ${result.message}\n`);
    const sig = signals.received();
    process.exitCode = sig ? 128 + (SIGNAL_NUMBERS[sig] ?? 15) : result.exitCode;
  } finally {
    signals.dispose();
  }
}

export const execCommand: CommandModule<object, ExecArgs> = {
  command: 'exec [command..]',
  describe: 'run a command in a new sandbox',
  builder,
  handler,
};
