/**
 * The ways into the CLI that its start-up shortcuts must not change (scripts/bundle-cli.mjs,
 * src/cli/main.ts): the command list without loading the command modules, a command named after
 * options, packages loaded from the vendor file, and `exec` exiting early only once its output is written;
 * and the V8 code cache that the loader hands to V8 with the bundle.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
const { O_NONBLOCK } = constants;
import { tmpdir } from 'node:os';
import { Script } from 'node:vm';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { COMMAND_INFO } from '../../src/cli/commands.js';
import { spawnModule } from '../../src/launch/spawn.js';
import { CLI, cli, ROOT } from '../helpers/cli.js';

describe('CLI entry points', () => {
  test('the code cache the build recorded is accepted by this Node (a rejected one costs ~25 ms a start, silently)', () => {
    const file = join(ROOT, 'dist/bin/sandbox-cli.cjs');
    const script = new Script(readFileSync(file, 'latin1'), { filename: file, cachedData: readFileSync(`${file}.v8cache`) });
    assert.equal(script.cachedDataRejected, false);
  });

  test('the loader maps the bundle and its cache (native/spawn.c): V8 takes the cache with the mapped text too', () => {
    const file = join(ROOT, 'dist/bin/sandbox-cli.cjs');
    const native = spawnModule();
    const script = new Script(native.mapText(file), { filename: file, cachedData: native.mapBytes(`${file}.v8cache`) });
    assert.equal(script.cachedDataRejected, false);
  });

  test('--version prints the package version', async () => {
    const r = await cli(['--version']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  });

  test('top-level --help lists every command with its description', async () => {
    const r = await cli(['--help']);
    assert.equal(r.code, 0, r.stderr);
    for (const [name, info] of Object.entries(COMMAND_INFO)) {
      assert.match(r.stdout, new RegExp(`sandbox ${name}\\b`), name);
      assert.ok(r.stdout.replace(/\s+/g, ' ').includes(info.describe), `${name}: ${info.describe}`);
    }
  });

  test('no command: a one-line usage error', async () => {
    const r = await cli([]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /^sandbox: name a command: exec, doctor, policy, image, verify-bundle \(see --help\) \[USAGE\]\n$/);
  });

  test('options before the command name still reach the command', async () => {
    const r = await cli(['--policy', 'strict', 'exec', '--dry-run', '--', '/bin/true']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(JSON.parse(r.stdout).seccomp.source, /strict\.json$/);
  });

  test('a command that uses a vendored package (ajv) runs', async () => {
    const r = await cli(['policy', 'check', '--json', join(ROOT, 'policies/seccomp/strict.json')]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(JSON.parse(r.stdout));
  });

  describe('the bundles of the CLI are read when their code is first needed', () => {
    /** The bundle files (dist/bin/*.cjs) the CLI require()d for `args`, and its output. */
    function bundlesRead(args: string[]): { files: string[]; stdout: string } {
      const hook = `const Module = require('node:module'); const { basename } = require('node:path'); const seen = [];
        const load = Module._load;
        Module._load = function (request, ...rest) { if (request.endsWith('.cjs')) seen.push(basename(request)); return load.call(this, request, ...rest); };
        process.on('exit', () => require('node:fs').writeSync(2, 'BUNDLES ' + JSON.stringify(seen) + '\\n'));`;
      const dir = mkdtempSync(join(tmpdir(), 'sbx-bundles-'));
      try {
        writeFileSync(join(dir, 'hook.cjs'), hook);
        const r = spawnSync(process.execPath, ['-r', join(dir, 'hook.cjs'), join(ROOT, 'dist/bin/sandbox.cjs'), ...args], { encoding: 'utf8', cwd: tmpdir() });
        assert.equal(r.status, 0, r.stderr);
        const line = /^BUNDLES (.*)$/m.exec(r.stderr);
        assert.ok(line, r.stderr);
        return { files: (JSON.parse(line[1]!) as string[]).filter((f) => f !== 'sandbox.cjs' && f !== 'hook.cjs'), stdout: r.stdout };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }

    test('exec\'s usual run: the main bundle alone (the rest of our code, yargs and the policy validator stay unread)', () => {
      assert.deepEqual(bundlesRead(['exec', '--policy', 'strict', '--', '/bin/true']).files, []);
    });

    test('a writable bind as root: the setid check\'s bundle on the first run of a filter only', () => {
      assert.equal(process.geteuid!(), 0, 'this test runs as root (CI does)');
      const work = mkdtempSync(join(tmpdir(), 'sbx-bundles-rw-'));
      try {
        // strict's filter with one rule more that names a constant of this run: a program no earlier run answered for
        const profile = JSON.parse(readFileSync(join(ROOT, 'policies/seccomp/strict.json'), 'utf8')) as { syscalls: unknown[] };
        profile.syscalls.push({ names: ['acct'], action: 'errno', errno: 'EPERM', args: [{ index: 0, op: 'eq', value: Date.now() * 1000 + process.pid % 1000 }] });
        writeFileSync(join(work, 'profile.json'), JSON.stringify(profile));
        const policy = join(work, 'policy.json');
        writeFileSync(policy, JSON.stringify({ extends: 'strict', seccomp: { file: './profile.json' } }));
        const args = ['exec', '--policy', policy, '--bind', `${work}:/work:rw`, '--', '/bin/true'];
        const first = bundlesRead(args).files;
        assert.ok(first.includes('sandbox-setid.cjs') && first.includes('sandbox-seccomp.cjs'), `the first run compiles and checks the filter: ${first.join(', ')}`);
        // a policy file of the user's is validated at every start
        assert.deepEqual(bundlesRead(args).files, ['policy-validator.cjs'], 'the next one finds the program and the answer on disk');
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    });

    test('--help: the commands bundle and yargs; the commands bundle uses the running main bundle, not a second copy', () => {
      const r = bundlesRead(['--help']);
      assert.deepEqual([...new Set(r.files)].sort(), ['sandbox-cli.cjs', 'sandbox-commands.cjs', 'sandbox-yargs.cjs']);
      assert.equal(r.stdout.match(/^Commands:$/gm)?.length, 1, r.stdout);
    });
  });

  test('exec --json: a Result larger than a pipe buffer arrives whole', async () => {
    const r = await cli(['exec', '--json', '--', '/bin/sh', '-c', 'head -c 300000 /dev/zero | tr "\\0" x']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).stdout.length, 300000);
  });

  // libuv makes a pipe non-blocking when Node turns process.stdout or stderr into a stream, and the flag
  // belongs to the open file, shared with whoever else writes to that pipe. Node's own exit clears it
  // again; exec's early exit (native/spawn.c, exit) must too, or the next writer gets EAGAIN.
  for (const [what, args] of [
    ['a failed run\'s message on stderr', ['exec', '--policy', 'strict', '--', '/nonexistent']],
    ['--json on stdout', ['exec', '--policy', 'strict', '--json', '--', '/bin/true']],
  ] as const) {
    test(`exec leaves a pipe it was given as stdout and stderr blocking: ${what}`, () => {
      const [r, w] = spawnModule().pipe();
      try {
        const run = spawnSync(process.execPath, [CLI, ...args], { stdio: ['ignore', w, w], timeout: 60_000 });
        assert.notEqual(run.status, null);
        const out = Buffer.alloc(65536);
        const n = readSync(r, out);
        assert.ok(n > 0, 'it wrote to the pipe');
        const flags = Number.parseInt(/^flags:\s+(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${w}`, 'utf8'))![1]!, 8);
        assert.equal(flags & O_NONBLOCK, 0, `O_NONBLOCK left on the pipe (flags 0${flags.toString(8)}) after: ${out.subarray(0, n).toString()}`);
      } finally {
        closeSync(r);
        closeSync(w);
      }
    });
  }
});
