/**
 * `sandbox exec`'s usual command line, parsed without yargs: yargs' set-up and its parse of exec's
 * options cost ~18 ms and ~500 page faults of every start, and yargs with its help renderer is ~165 KB
 * of the bundle to read and compile (bench/README.md). Cold start is a goal of the project.
 *
 * The line is parsed by yargs-parser, the parser yargs itself runs, with exec's option table and
 * configuration (exec-options.ts). Its result is used only when it is certainly what yargs would hand
 * the handler: `exec` is the only word before `--`, every key is one of exec's options (or its alias
 * or camelCase twin), and every value has its option's type. Anything else — a typo, a misplaced word,
 * --help, --version, a dotted or negated flag — returns undefined, and main.ts gives the whole line to
 * yargs, which prints its usual message or help. test/cli/exec-fast-path.test.ts compares the two on
 * hand-picked and generated command lines.
 */
import yargsParser from 'yargs-parser';
import { EXEC_OPTIONS, EXEC_PARSER_CONFIGURATION, ONE_VALUE, SINGLE_VALUED, execOption, type ExecArgs, type ExecOption, type ExecOptionName } from './exec-options.js';

const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
const NAMES = Object.keys(EXEC_OPTIONS) as ExecOptionName[];

function parserOptions(): yargsParser.Options {
  const ofType = (test: (o: ExecOption) => boolean) => NAMES.filter((n) => test(execOption(n)));
  const alias: Record<string, string> = {};
  const defaults: Record<string, unknown> = {};
  for (const n of NAMES) {
    const o = execOption(n);
    if (o.alias !== undefined) alias[n] = o.alias;
    if (o.default !== undefined) defaults[n] = o.default;
  }
  return {
    string: ofType((o) => o.type === 'string'),
    boolean: ofType((o) => o.type === 'boolean'),
    array: ofType((o) => o.array === true),
    alias,
    narg: ONE_VALUE,
    default: defaults,
    configuration: EXEC_PARSER_CONFIGURATION,
  };
}

/** Every key yargs-parser may set for one option: its name, camelCase twin and alias. */
function keysOf(name: ExecOptionName): string[] {
  const o = execOption(name);
  return [...new Set([name, camel(name), ...(o.alias === undefined ? [] : [o.alias])])];
}

/** The value has the option's type: a string (an array of them if given twice, for single-valued
 * flags), an array of strings for repeatable ones, a boolean. A dotted flag (`--bind.x`) gives an
 * object, `--json=yes` a string: not ours to interpret. */
function hasItsType(name: ExecOptionName, value: unknown): boolean {
  const o = execOption(name);
  const isString = (v: unknown) => typeof v === 'string';
  if (o.type === 'boolean') return typeof value === 'boolean';
  if (o.array === true || SINGLE_VALUED.includes(name)) {
    return isString(value) || (Array.isArray(value) && value.length > 0 && value.every(isString));
  }
  return false;
}

/** The handler's arguments for `argv` (the words after `sandbox`), or undefined: ask yargs. */
export function parseExecFast(argv: readonly string[]): ExecArgs | undefined {
  if (argv[0] !== 'exec') return undefined;
  const parsed = yargsParser.detailed([...argv], parserOptions());
  if (parsed.error) return undefined;
  const { _: words, '--': rest, ...options } = parsed.argv;
  if (words.length !== 1 || words[0] !== 'exec') return undefined;
  const known = new Map(NAMES.flatMap((n) => keysOf(n).map((k) => [k, n] as const)));
  if (Object.keys(options).some((k) => !known.has(k))) return undefined;
  const args: Record<string, unknown> = rest === undefined ? {} : { '--': rest };
  for (const name of NAMES) {
    const keys = keysOf(name);
    const value: unknown = options[name];
    if (value === undefined && keys.every((k) => options[k] === undefined)) continue;
    // A flag yargs-parser recognised is set under all its keys, with one value. A key set alone was
    // not recognised as this option (`--dryRun 64M` gives dryRun '64M', no dry-run): not ours.
    // (values are strings, booleans and arrays of strings: their JSON compares them; node:util's
    // isDeepStrictEqual would load its comparison module on every start)
    if (keys.some((k) => JSON.stringify(options[k]) !== JSON.stringify(value))) return undefined;
    if (!hasItsType(name, value)) return undefined;
    // single-valued flags: the last one counts (single-valued.ts)
    args[camel(name)] = SINGLE_VALUED.includes(name) && Array.isArray(value) ? value[value.length - 1] : value;
  }
  return args as unknown as ExecArgs;
}
