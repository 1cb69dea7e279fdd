/**
 * The ways into the CLI that its start-up shortcuts must not change (scripts/bundle-cli.mjs,
 * src/cli/main.ts): the command list without loading the command modules, a command named after
 * options, packages loaded from the vendor file, and `exec` exiting early only once its output is written;
 * and the V8 code cache that the loader hands to V8 with the bundle.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Script } from 'node:vm';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { COMMAND_INFO } from '../../src/cli/commands.js';
import { cli, ROOT } from '../helpers/cli.js';

describe('CLI entry points', () => {
  test('the code cache the build recorded is accepted by this Node (a rejected one costs ~25 ms a start, silently)', () => {
    const file = join(ROOT, 'dist/bin/sandbox-cli.cjs');
    const script = new Script(readFileSync(file, 'latin1'), { filename: file, cachedData: readFileSync(`${file}.v8cache`) });
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

  test('exec --json: a Result larger than a pipe buffer arrives whole', async () => {
    const r = await cli(['exec', '--json', '--', '/bin/sh', '-c', 'head -c 300000 /dev/zero | tr "\\0" x']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).stdout.length, 300000);
  });
});
