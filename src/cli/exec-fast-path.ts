/**
 * `sandbox exec`'s usual command line, parsed without yargs: yargs' set-up and its parse of exec's
 * options cost ~18 ms and ~500 page faults of every start, and yargs with its help renderer is ~165 KB
 * to read and compile (bench/README.md). Cold start is a goal of the project.
 *
 * This parser takes only the plain spellings, whose meaning to yargs is not in doubt: `exec` first,
 * then exec's options (exec-options.ts) as `--name VALUE`, `--name=VALUE`, `-p|-w|-e VALUE` or a bare
 * boolean `--flag`, then `--` and the command. Anything else — a typo, a word before `--`, --help,
 * --version, a camelCase, dotted, negated or bundled flag, a value that starts with `-` or a quote,
 * a boolean followed by true or false — returns undefined, and main.ts gives the whole line to yargs,
 * which prints its usual message or help. (It used to run yargs-parser, yargs' own parser, and check
 * its result: that was ~2 ms of a start for the same answers.) test/cli/exec-fast-path.test.ts
 * compares the two on hand-picked and generated command lines.
 */
import { EXEC_OPTIONS, SINGLE_VALUED, execOption, type ExecArgs, type ExecOptionName } from './exec-options.js';

const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** exec's one-letter aliases → the option */
const SHORT = new Map<string, ExecOptionName>((Object.keys(EXEC_OPTIONS) as ExecOptionName[]).flatMap((n) => {
  const alias = execOption(n).alias;
  return alias === undefined ? [] : [[`-${alias}`, n] as const];
}));

const isOption = (name: string): name is ExecOptionName => Object.hasOwn(EXEC_OPTIONS, name);

/** A value yargs takes as it is: one that starts with `-` may be read as a flag, a quoted one unquoted. */
const plainValue = (v: string | undefined): v is string => v !== undefined && !/^['"-]/.test(v);

/** The handler's arguments for `argv` (the words after `sandbox`), or undefined: ask yargs. */
export function parseExecFast(argv: readonly string[]): ExecArgs | undefined {
  if (argv[0] !== 'exec') return undefined;
  const args: Record<string, unknown> = { policy: execOption('policy').default };
  for (let i = 1; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') {
      // yargs hands over the words after `--` as they are, and no `--` key when there are none
      if (i + 1 < argv.length) args['--'] = argv.slice(i + 1);
      break;
    }
    const eq = word.startsWith('--') ? word.indexOf('=') : -1;
    const name = SHORT.get(word) ?? (word.startsWith('--') ? word.slice(2, eq < 0 ? undefined : eq) : '');
    if (!isOption(name)) return undefined;
    const key = camel(name);
    if (execOption(name).type === 'boolean') {
      // `--json=…` is not ours to interpret, and yargs reads a true or false after a boolean as its value
      if (eq >= 0 || argv[i + 1] === 'true' || argv[i + 1] === 'false') return undefined;
      args[key] = true;
      continue;
    }
    const value = eq >= 0 ? word.slice(eq + 1) : argv[++i];
    if (!plainValue(value)) return undefined;
    if (SINGLE_VALUED.includes(name)) args[key] = value; // the last one counts (single-valued.ts)
    else args[key] = [...((args[key] as string[] | undefined) ?? []), value];
  }
  return args as unknown as ExecArgs;
}
