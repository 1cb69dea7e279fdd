/**
 * The command line through yargs: every command, --help, --version and usage errors. `sandbox exec`'s
 * usual line does not come here (main.ts parses it without yargs, exec-fast-path.ts); anything it
 * does not accept does, so that yargs prints its usual message or help.
 * Usage errors exit 125 with a one-line reason (docker/podman convention).
 */
import yargs, { type Argv, type CommandModule } from 'yargs';
import { readFileSync } from 'node:fs';
import { EXIT_SANDBOX_FAILURE } from '../errors.js';
import { packageRoot } from '../policy/paths.js';
import { COMMAND_INFO, type CommandName } from './commands.js';
import { reportFatal } from './fatal.js';

/** The version in our package.json (yargs' own lookup does not find it from the bundled CLI). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(`${packageRoot()}/package.json`, 'utf8')) as { version: string }).version;
}

type Loader = () => Promise<CommandModule<object, any>>;

/** Command name → module loader. One file per command under src/cli/. */
const COMMANDS: Record<CommandName, Loader> = {
  exec: async () => (await import('./exec.js')).execCommand,
  doctor: async () => (await import('./doctor.js')).doctorCommand,
  policy: async () => (await import('./policy.js')).policyCommand,
  image: async () => (await import('./image.js')).imageCommand,
  'verify-bundle': async () => (await import('./verify-bundle.js')).verifyBundleCommand,
};

/**
 * A command whose module is loaded only when yargs runs it (yargs awaits a builder's promise). Used
 * when the first word is not a command (--version, top-level --help, an unknown command, options
 * before the command): listing the commands then needs only their names and descriptions.
 */
function lazyCommand(name: CommandName): CommandModule<object, any> {
  let loaded: Promise<CommandModule<object, any>> | undefined;
  const load = () => (loaded ??= COMMANDS[name]());
  return {
    ...COMMAND_INFO[name],
    builder: async (y: Argv) => {
      const { builder } = await load();
      return typeof builder === 'function' ? builder(y) : y.options(builder ?? {});
    },
    handler: async (argv) => (await load()).handler(argv),
  };
}

/** yargs reports an unknown `--foo-bar` twice ("foo-bar, fooBar"): keep the spelling the user typed. */
function withoutCamelCaseEchoes(line: string): string {
  const m = /^Unknown arguments?: (.*)$/.exec(line);
  if (!m) return line;
  const names = m[1]!.split(', ');
  const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  const kept = names.filter((n) => !names.some((other) => other !== n && other.includes('-') && camel(other) === n));
  return `Unknown argument${kept.length > 1 ? 's' : ''}: ${kept.join(', ')}`;
}

/**
 * yargs renders a command's whole help text right after starting its handler, in case a later failure
 * wants to print it (cacheHelpMessage). Our failures print one line, never the help, and rendering it
 * costs ~45 ms of main-thread time on every `sandbox exec` (string-width over every option), which the
 * launch then waits for. Pinned yargs 18.2.0; if the internal API moves, help simply renders as before.
 */
function skipHelpPrerender(cli: Argv): void {
  const internal = (cli as unknown as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } } })
    .getInternalMethods?.().getUsageInstance?.();
  if (internal && typeof internal.cacheHelpMessage === 'function') internal.cacheHelpMessage = () => {};
}

/**
 * The yargs command line for `argv` with these command modules (runWithYargs; the exec fast path's
 * test builds exec's the same way, to compare the two parsers).
 */
export function commandLine(argv: string[], modules: CommandModule<object, any>[]): Argv {
  let cli: Argv = yargs(argv)
    .scriptName('sandbox')
    .parserConfiguration({ 'boolean-negation': false })
    .usage('$0 <command> [options]')
    .strict()
    .demandCommand(1, 'name a command: ' + Object.keys(COMMANDS).join(', '))
    .help()
    .alias('help', 'h')
    .version(packageVersion())
    .fail((msg, err) => {
      // A command's own failure; yargs' errors (YError: "Not enough arguments following: policy") are usage errors.
      if (err && err.name !== 'YError') reportFatal(err);
      // One line: the reason. `--help` shows the rest.
      process.stderr.write(`sandbox: ${withoutCamelCaseEchoes((msg || err?.message || 'invalid usage').split('\n')[0]!)} (see --help) [USAGE]\n`);
      process.exit(EXIT_SANDBOX_FAILURE);
    });
  for (const m of modules) cli = cli.command(m);
  // The help's width, from the terminal: only when help is asked for, as only then is stdout's
  // stream needed (Node makes process.stdout on first use, ~5 ms that a command need not pay).
  if (argv.includes('--help') || argv.includes('-h')) cli = cli.wrap(Math.min(120, process.stdout.columns || 100));
  skipHelpPrerender(cli);
  return cli;
}

export async function runWithYargs(argv: string[]): Promise<void> {
  // The usual case, `sandbox COMMAND ...`: that command's module only, loaded before parsing.
  const first = argv.find((a) => !a.startsWith('-'));
  const modules = first !== undefined && first in COMMANDS
    ? [await COMMANDS[first as CommandName]()]
    : (Object.keys(COMMANDS) as CommandName[]).map(lazyCommand);
  await commandLine(argv, modules).parseAsync();
  // as main.ts does after `sandbox exec`: its handler has released and written all
  if (first === 'exec') (await import('../launch/spawn.js')).exitNow();
}
