/**
 * `sandbox exec`'s usual line is parsed without yargs (src/cli/exec-fast-path.ts). Whatever that
 * parser accepts must be exactly what yargs hands the handler for the same line; whatever it is not
 * sure of it must leave to yargs. Compared here on typical judge and CI lines, on lines that must go
 * to yargs, and on generated lines mixing valid, misspelt, repeated and oddly written flags.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { execCommand } from '../../src/cli/exec.js';
import { parseExecFast } from '../../src/cli/exec-fast-path.js';
import { EXEC_OPTIONS } from '../../src/cli/exec-options.js';
import { commandLine } from '../../src/cli/yargs-cli.js';
import { cli } from '../helpers/cli.js';

class UsageFailure extends Error {}

const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** What yargs hands exec's handler for `argv` (the options the handler reads), or its usage error. */
async function viaYargs(argv: string[]): Promise<{ args: Record<string, unknown> } | { usage: string }> {
  let handed: Record<string, unknown> | undefined;
  // a copy, taken while the handler runs: once the command returns, yargs moves `--` into `_` (the
  // top level does not populate `--`), and the handler reads its options before then
  const cli = commandLine(argv, [{ ...execCommand, handler: (a: Record<string, unknown>) => { handed = { ...a }; } }])
    // added last, so called first: instead of the CLI's exit
    .fail((msg, err) => { throw new UsageFailure(msg ?? err?.message ?? 'failed'); })
    .exitProcess(false);
  try {
    await cli.parseAsync();
  } catch (e) {
    if (e instanceof UsageFailure) return { usage: e.message };
    throw e;
  }
  assert.ok(handed, `yargs ran no handler for ${JSON.stringify(argv)}`);
  const args: Record<string, unknown> = {};
  for (const key of [...Object.keys(EXEC_OPTIONS).map(camel), '--']) {
    if (handed[key] !== undefined) args[key] = handed[key];
  }
  // the `command` positional: words before `--`, refused by the handler; the fast path never accepts them
  assert.deepEqual(handed['command'] ?? [], [], `${JSON.stringify(argv)}: yargs found words before --`);
  return { args };
}

async function assertSameAsYargs(argv: string[]): Promise<void> {
  const fast = parseExecFast(argv);
  assert.ok(fast, `the fast path refused ${JSON.stringify(argv)}`);
  const yargs = await viaYargs(argv);
  assert.ok('args' in yargs, `${JSON.stringify(argv)}: yargs refused it (${'usage' in yargs ? yargs.usage : ''}), the fast path accepted it`);
  assert.deepEqual({ ...fast }, yargs.args, JSON.stringify(argv));
}

/** A small deterministic generator (xorshift32): the same lines on every run. */
function generator(seed: number): (n: number) => number {
  let x = seed;
  return (n) => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x % n;
  };
}

const TOKENS = [
  '--policy', 'strict', '-p', 'judge', '--policy=ci', '--bind', '/a:/b', '--bind=/c:/d:rw', '--tmpfs', '/x:1M',
  '--env', 'A=1', '-e', 'B=2', '-w', '/tmp', '--workdir=/w', '--dry-run', '--json', '--json=false', 'true', 'false',
  '--memory', '64M', '--memory=1G', '--pids', '7', '--cpus', '1.5', '--cpu-time', '1s', '--wall-time=2s',
  '--output-limit', '1M', '--tmpfs-size', '8M', '--uid-range', '100000:10', '--result', 'r.json', '--meta=m.txt',
  '--trust-policy', 't.json', '--store', '/s', '--image', 'app:1', '--fsize', '1M', '--nofile', '64', '--stack', '8M',
  '--no-json', '--polcy', '-x', '--bind.a', '--trustPolicy', 'u', '--dryRun', '-pstrict', '-p=strict', '-wp', '',
  '--', '--', '/bin/true', '-5', '5', '0x10', 'a b', '-', '--help', '-h', '--version', '--cpus=abc', '--env=C=3',
  '--memory=', '--workdir=a=b', '--policy="x"',
];

describe('exec fast path', () => {
  test('typical lines are taken by the fast path and mean what yargs makes of them', async () => {
    const lines = [
      ['exec', '--', '/bin/true'],
      ['exec', '--policy', 'strict', '--', '/bin/echo', 'hello'],
      ['exec', '-p', 'judge', '--cpu-time', '1s', '--memory', '256M', '--meta', 'meta.txt', '--', './a.out'],
      ['exec', '--policy=strict', '--bind', './work:/work:rw', '--workdir', '/work', '--', 'sh', '-c', 'id; ls /'],
      ['exec', '--bind', '/a:/a', '--bind', '/b:/b:rw', '--tmpfs', '/scratch:16M', '-e', 'A=1', '-e', 'B=2', '--', 'env'],
      ['exec', '--json', '--dry-run', '--', 'true'],
      ['exec', '--workdir', '/a', '--workdir', '/b', '-p', 'x', '--policy', 'strict', '--', 'pwd'],
      ['exec', '--pids', '7', '--cpus', '0.5', '--nofile', '64', '--', 'true', '--', '-x', '5'],
      ['exec', '--image', 'app:1', '--store', '/s', '--trust-policy', '/t.json'],
      ['exec', '--', 'cmd', '--policy', 'strict', '--help'],
      ['exec', '--env', '', '--memory', '', '--', 'true'],
    ];
    for (const argv of lines) await assertSameAsYargs(argv);
  });

  test('help, version, misspelt flags, words before -- and odd spellings go to yargs', () => {
    const lines = [
      ['exec', '--help'], ['exec', '-h', '--', 'x'], ['exec', '--version'], ['--version'], ['exec', '--polcy', 'strict', '--', 'x'],
      ['exec', 'strict', '--', 'x'], ['exec', '/bin/true'], ['exec', '--no-json', '--', 'x'], ['exec', '--bind.a', 'b', '--', 'x'],
      ['exec', '-x', '--', 'x'], ['exec', '--policy', '--', 'x'], ['exec', '-p'], ['exec', '--bind', '--', 'x'], ['doctor'], ['-p', 'strict', 'exec', '--', 'x'], [],
    ];
    for (const argv of lines) assert.equal(parseExecFast(argv), undefined, JSON.stringify(argv));
  });

  test('generated lines: what the fast path takes, yargs reads the same way', async () => {
    const next = generator(0x5eed1234);
    let taken = 0;
    const count = 1500;
    for (let i = 0; i < count; i++) {
      const argv = ['exec', ...Array.from({ length: next(9) }, () => TOKENS[next(TOKENS.length)]!)];
      const fast = parseExecFast(argv);
      if (fast === undefined) continue;
      taken++;
      const yargs = await viaYargs(argv);
      assert.ok('args' in yargs, `${JSON.stringify(argv)}: yargs refused it (${'usage' in yargs ? yargs.usage : ''}), the fast path accepted it`);
      assert.deepEqual({ ...fast }, yargs.args, JSON.stringify(argv));
    }
    // the comparison means something only if the fast path took a fair share of the lines
    assert.ok(taken > count / 10, `the fast path took only ${taken} of ${count} lines`);
  });
});

describe('the command\'s words stay words, on both paths', () => {
  const words = ['0x10', '5.0', '1e3', '007', '-5'];
  test('fast path: run', async () => {
    const argv = ['exec', '--', '/bin/echo', ...words];
    assert.ok(parseExecFast(argv));
    const r = await cli(argv);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${words.join(' ')}\n`);
  });
  test('yargs: the plan of a line the fast path leaves to it (yargs printed 16 5 1000 7 -5)', async () => {
    const argv = ['exec', '--dryRun', '--', '/bin/echo', ...words];
    assert.equal(parseExecFast(argv), undefined);
    const r = await cli(argv);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).argv, ['/bin/echo', ...words]);
  });
});
