/**
 * `sandbox policy check|compile|explain`: the seccomp side of a policy file.
 *
 * FILE is either a project policy (policies/*.json: its `seccomp` property, inline or
 * `{ "file": ... }`, inherited through `extends` and the implicit `default`), or a seccomp profile
 * on its own (our section format, OCI `linux.seccomp`, Docker/moby). Exit status: 0 success, 1 when
 * `check` finds errors or a profile does not compile, 125 on usage errors.
 */
import { policiesDir } from '../policy/paths.js';
import { readConfigFile } from '../policy/read-config-file.js';
import { dirname, isAbsolute, resolve } from 'node:path';
import { Ajv } from 'ajv';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import {
  compileFilter, detectFormat, disassemble, explainCall, hostArch, isFileReference, isSeccompError, lintFilter,
  parseConstantExpression, parseJsonLossless, resolveFileReference, SECCOMP_SECTION_SCHEMA,
  type CompiledFilter, type LintFinding, type TargetArch,
} from '../seccomp/index.js';
import { COMMAND_INFO } from './commands.js';
import { lastValueWins } from './single-valued.js';

const EXIT_USAGE = 125;
const ARCHES: readonly TargetArch[] = ['x86_64', 'aarch64'];

interface CommonArgs {
  file: string;
  arch?: TargetArch;
  json?: boolean;
  strict?: boolean;
  cap?: string[];
  kernel?: string;
}
interface CompileArgs extends CommonArgs { format: 'raw' | 'disasm' | 'json' }
interface ExplainArgs extends CommonArgs { syscall: string; args?: (string | number)[] }

/** A usage problem: reported on one line, exit 125. */
class UsageError extends Error {}

// ---------------------------------------------------------------- finding the profile in FILE

interface Target {
  /** The profile (possibly a {file} reference), or null: the policy has no seccomp filter. */
  profile: unknown;
  /** Directory a {file} reference is relative to. */
  baseDir: string;
  /** Where the profile came from, for messages. */
  origin: string;
}

function builtinPoliciesDir(): string {
  return policiesDir();
}

function readJson(file: string): unknown {
  const text = readConfigFile(file, (why) => {
    throw new UsageError(`cannot read ${file}: ${why}`);
  }).toString('utf8');
  // Exact integers: a 64-bit mask must not be rounded to a double.
  return parseJsonLossless(text, file);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A seccomp profile on its own (not a project policy)? */
function isProfile(doc: unknown): boolean {
  return isObject(doc) && !('seccomp' in doc) && !('extends' in doc) && 'defaultAction' in doc;
}

export function findSeccompProfile(file: string): Target {
  const seen = new Set<string>();
  let current = resolve(file);
  for (let depth = 0; depth < 9; depth++) {
    if (seen.has(current)) throw new UsageError(`${file}: extends cycle through ${current}`);
    seen.add(current);
    const doc = readJson(current);
    if (isProfile(doc)) return { profile: doc, baseDir: dirname(current), origin: current };
    if (!isObject(doc)) throw new UsageError(`${current}: neither a policy nor a seccomp profile (expected a JSON object)`);
    if ('seccomp' in doc) return { profile: doc['seccomp'], baseDir: dirname(current), origin: `${current}#/seccomp` };
    // Inherit: the `extends` chain, and every policy implicitly extends `default`.
    const ref = typeof doc['extends'] === 'string' ? doc['extends'] : 'default';
    const next = ref.includes('/') || ref.endsWith('.json')
      ? (isAbsolute(ref) ? ref : resolve(dirname(current), ref))
      : resolve(builtinPoliciesDir(), `${ref}.json`);
    if (next === current) return { profile: null, baseDir: dirname(current), origin: current };
    current = next;
  }
  throw new UsageError(`${file}: extends chain deeper than 8`);
}

// ---------------------------------------------------------------- compiling

function context(argv: CommonArgs, arch: TargetArch, baseDir: string) {
  return {
    arch,
    baseDir,
    strict: argv.strict === true,
    ...(argv.cap ? { caps: argv.cap } : {}),
    ...(argv.kernel ? { kernel: argv.kernel } : {}),
  };
}

function requireFilter(t: Target, file: string): void {
  if (t.profile === null || t.profile === undefined) {
    throw new UsageError(`${file}: this policy has no seccomp filter (seccomp: null)`);
  }
}

/** Schema errors of our section format (the compiler reports the first problem; this lists all). */
function schemaErrors(profile: unknown): { pointer: string; message: string }[] {
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  const validate = ajv.compile(structuredClone(SECCOMP_SECTION_SCHEMA) as object);
  // ajv sees bigints (from exact parsing) as non-integers: give it numbers for the structure check only.
  const plain = JSON.parse(JSON.stringify(profile, (_k, v) => (typeof v === 'bigint' ? Number(v) : v)));
  if (validate(plain)) return [];
  return (validate.errors ?? [])
    .filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'if')
    .map((e) => ({ pointer: e.instancePath || '/', message: e.message ?? 'is invalid' }));
}

// ---------------------------------------------------------------- check

interface CheckReport {
  file: string;
  source: string;
  format?: 'sandbox' | 'oci';
  ok: boolean;
  errors: { code: string; pointer?: string; message: string }[];
  warnings: string[];
  lints: LintFinding[];
  arches: Partial<Record<TargetArch, { instructions: number; hash: string }>>;
}

function check(argv: CommonArgs): CheckReport {
  const t = findSeccompProfile(argv.file);
  requireFilter(t, argv.file);
  const report: CheckReport = { file: argv.file, source: t.origin, ok: true, errors: [], warnings: [], lints: [], arches: {} };
  let profile: unknown;
  try {
    profile = resolveFileReference(t.profile, t.baseDir).profile;
  } catch (e) {
    report.ok = false;
    report.errors.push({ code: isSeccompError(e) ? e.code : 'FILE', message: (e as Error).message });
    return report;
  }
  report.format = detectFormat(profile);
  if (report.format === 'sandbox') {
    for (const e of schemaErrors(profile)) report.errors.push({ code: 'SCHEMA', pointer: e.pointer, message: `${e.pointer}: ${e.message}` });
  }
  for (const arch of argv.arch ? [argv.arch] : ARCHES) {
    try {
      const f = compileFilter(profile, context(argv, arch, t.baseDir));
      report.arches[arch] = { instructions: f.insns.length, hash: f.hash };
      for (const w of f.warnings) if (!report.warnings.includes(w)) report.warnings.push(w);
      for (const l of lintFilter(f.ir)) if (!report.lints.some((x) => x.message === l.message)) report.lints.push(l);
    } catch (e) {
      if (!isSeccompError(e)) throw e;
      if (!report.errors.some((x) => x.message === e.message)) report.errors.push({ code: e.code, ...(e.pointer !== undefined ? { pointer: e.pointer } : {}), message: e.message });
    }
  }
  report.ok = report.errors.length === 0;
  return report;
}

function printCheck(r: CheckReport): void {
  const lines: string[] = [];
  const sizes = Object.entries(r.arches).map(([a, v]) => `${a}: ${v!.instructions} instructions`).join(', ');
  lines.push(`${r.file}: ${r.ok ? 'ok' : 'FAILED'} (${r.format === 'oci' ? 'OCI/Docker profile' : 'sandbox seccomp section'}${sizes ? `; ${sizes}` : ''})`);
  for (const e of r.errors) lines.push(`  error: ${e.message} [${e.code}]`);
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  for (const l of r.lints) lines.push(`  ${l.severity}: ${l.message} [lint/${l.code}]`);
  process.stdout.write(lines.join('\n') + '\n');
}

// ---------------------------------------------------------------- compile

function compileOne(argv: CommonArgs): CompiledFilter {
  const t = findSeccompProfile(argv.file);
  requireFilter(t, argv.file);
  return compileFilter(t.profile, context(argv, argv.arch ?? hostArch(), t.baseDir));
}

function printCompiled(f: CompiledFilter, format: CompileArgs['format']): void {
  for (const w of f.warnings) process.stderr.write(`sandbox: warning: ${w}\n`);
  if (format === 'raw') {
    if (process.stdout.isTTY) throw new UsageError('raw output is binary (struct sock_filter[]); redirect it to a file or use --format disasm');
    process.stdout.write(f.program);
    return;
  }
  const listing = disassemble(f.insns, { arch: f.ir.arch });
  if (format === 'disasm') {
    process.stdout.write(`; ${f.ir.arch}, ${f.insns.length} instructions, sha256 ${f.hash}\n${listing.join('\n')}\n`);
    return;
  }
  process.stdout.write(JSON.stringify({
    arch: f.ir.arch, hash: f.hash, flags: f.flags, instructions: f.insns.length, warnings: f.warnings,
    program: f.program.toString('base64'), disassembly: listing,
  }, null, 2) + '\n');
}

// ---------------------------------------------------------------- explain

function parseArg(v: string | number, i: number): bigint {
  const text = String(v);
  const r = parseConstantExpression(text);
  if ('value' in r) return r.value;
  throw new UsageError(`argument ${i}: ${'unknown' in r ? `unknown constant ${r.unknown}` : r.syntax}; give a number (42, 0x5412, -1) or a name (TIOCSTI, AF_ALG)`);
}

function explain(argv: ExplainArgs): void {
  const f = compileOne(argv);
  const args = (argv.args ?? []).map(parseArg);
  if (args.length > 6) throw new UsageError('a syscall has at most 6 arguments');
  const e = explainCall(f, String(argv.syscall), args);
  if (argv.json) {
    const { actionText, ...rest } = e;
    process.stdout.write(JSON.stringify({ ...rest, action: actionText, returnValue: `0x${e.returnValue.toString(16).padStart(8, '0')}` }, null, 2) + '\n');
    return;
  }
  const shown = e.args.slice(0, Math.max(args.length, 0)).join(', ');
  process.stdout.write([
    `${e.syscall}(${shown}) [nr ${e.nr}] on ${e.arch}: ${e.actionText}`,
    `  why: ${e.why}`,
    `  filter: ${e.instructions} instructions executed, returns 0x${e.returnValue.toString(16).padStart(8, '0')}`,
  ].join('\n') + '\n');
}

// ---------------------------------------------------------------- yargs wiring

function run(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`sandbox: ${e.message} [USAGE]\n`);
      process.exitCode = EXIT_USAGE;
      return;
    }
    if (isSeccompError(e)) {
      process.stderr.write(`sandbox: ${e.message} [SECCOMP/${e.code}]\n`);
      process.exitCode = e.code === 'FILE' ? EXIT_USAGE : 1;
      return;
    }
    throw e;
  }
}

function common<T>(y: Argv<T>): Argv<T & CommonArgs> {
  return lastValueWins(y, ['arch', 'kernel', 'format'])
    .positional('file', { type: 'string', demandOption: true, describe: 'a policy file (policies/*.json) or a seccomp profile (ours, OCI or Docker)' })
    .option('arch', { choices: ARCHES, describe: 'target arch (default: this host\'s)' })
    .option('strict', { type: 'boolean', describe: 'unknown syscall names are errors, not warnings' })
    .option('cap', { type: 'string', array: true, nargs: 1, describe: 'a capability the sandboxed process keeps (moby includes/excludes)' })
    .option('kernel', { type: 'string', describe: 'kernel version for moby minKernel (default: this host\'s)' }) as unknown as Argv<T & CommonArgs>;
}

const checkCommand: CommandModule<object, CommonArgs> = {
  command: 'check <file>',
  describe: 'validate the seccomp profile of a policy (schema, compilation for each arch, lints)',
  builder: (y) => common(y).option('json', { type: 'boolean', describe: 'machine-readable report' }) as unknown as Argv<CommonArgs>,
  handler: (argv: ArgumentsCamelCase<CommonArgs>) => run(() => {
    const t = findSeccompProfile(argv.file);
    if (t.profile === null || t.profile === undefined) {
      // Nothing to check: the policy runs without a filter (seccomp: null).
      process.stdout.write(argv.json ? JSON.stringify({ file: argv.file, source: t.origin, ok: true, filter: false }) + '\n' : `${argv.file}: no seccomp filter (seccomp: null)\n`);
      return;
    }
    const r = check(argv);
    if (argv.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    else printCheck(r);
    process.exitCode = r.ok ? 0 : 1;
  }),
};

const compileCommand: CommandModule<object, CompileArgs> = {
  command: 'compile <file>',
  describe: 'compile the seccomp profile to a BPF program (raw = struct sock_filter[] bytes on stdout)',
  builder: (y) => common(y).option('format', { choices: ['raw', 'disasm', 'json'] as const, default: 'raw' as const, describe: 'output format' }) as unknown as Argv<CompileArgs>,
  handler: (argv: ArgumentsCamelCase<CompileArgs>) => run(() => printCompiled(compileOne(argv), argv.format)),
};

const explainCommand: CommandModule<object, ExplainArgs> = {
  command: 'explain <file> <syscall> [args..]',
  describe: 'what the filter does with one call, and why (arguments: numbers or names like TIOCSTI)',
  builder: (y) => common(y)
    .positional('syscall', { type: 'string', demandOption: true, describe: 'a syscall name or number' })
    .positional('args', { type: 'string', array: true, describe: 'up to 6 arguments' })
    .option('json', { type: 'boolean', describe: 'machine-readable output' })
    .parserConfiguration({ 'parse-numbers': false, 'parse-positional-numbers': false }) as unknown as Argv<ExplainArgs>,
  handler: (argv: ArgumentsCamelCase<ExplainArgs>) => run(() => explain(argv)),
};

export const policyCommand: CommandModule<object, object> = {
  ...COMMAND_INFO.policy,
  builder: (y: Argv) => y
    .command(checkCommand)
    .command(compileCommand)
    .command(explainCommand)
    .demandCommand(1, 'name a policy command: check, compile, explain'),
  handler: () => undefined,
};

// isFileReference is part of the contract of `seccomp: { file }`; re-exported for the lead's loader.
export { isFileReference };
