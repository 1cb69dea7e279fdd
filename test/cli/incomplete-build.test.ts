/**
 * An installation whose native part is missing (a build that failed or was skipped): `sandbox exec`
 * exits 125 with one line naming the missing file and the command that builds it, and `sandbox
 * doctor` fails its launcher check with that fix. The same for a file of the bundled CLI that is read
 * only when first used (a partial copy): what needs it fails with one line, the rest still runs. Run
 * on a copy of the package with files removed. (Without sandbox-spawn.node the CLI's loader reads its
 * bundle instead of mapping it: that these messages come at all shows it did.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ROOT } from '../helpers/cli.js';

/** A copy of the package whose native/build holds only `keep`. */
function packageWith(keep: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'sbx-incomplete-'));
  for (const part of ['dist', 'policies', 'package.json']) cpSync(join(ROOT, part), join(dir, part), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  mkdirSync(join(dir, 'native/build'), { recursive: true });
  for (const f of keep) cpSync(join(ROOT, 'native/build', f), join(dir, 'native/build', f));
  return dir;
}

function sandbox(pkg: string, args: string[]) {
  return spawnSync(process.execPath, [join(pkg, 'dist/bin/sandbox.cjs'), ...args], { encoding: 'utf8', cwd: tmpdir(), timeout: 60_000 });
}

describe('an installation without its native build', () => {
  const noSpawn = packageWith(['sandbox-launcher', 'libsandbox-fdpass.so']);
  const nothing = packageWith([]);
  after(() => {
    rmSync(noSpawn, { recursive: true, force: true });
    rmSync(nothing, { recursive: true, force: true });
  });

  test('no sandbox-spawn.node: exec exits 125 naming it and the fix; doctor fails the launcher check', () => {
    const r = sandbox(noSpawn, ['exec', '--', '/bin/true']);
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, /^sandbox: cannot load .*native\/build\/sandbox-spawn\.node .*run `npm run build:native`.* \[LAUNCHER_MISSING\]\n$/);
    const d = sandbox(noSpawn, ['doctor', '--json']);
    const launcher = (JSON.parse(d.stdout) as { checks: { name: string; status: string; fix?: string }[] }).checks.find((c) => c.name === 'launcher');
    assert.deepEqual([launcher?.status, launcher?.fix], ['fail', 'npm run build:native']);
  });

  test('no launcher at all: exec exits 125 naming it and the fix', () => {
    const r = sandbox(nothing, ['exec', '--', '/bin/true']);
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, /^sandbox: the native launcher is not built \(.*native\/build\/sandbox-launcher\); run `npm run build:native`.* \[LAUNCHER_MISSING\]\n$/);
  });
});

describe('an installation with a file of the bundled CLI missing', () => {
  /** A copy of the package (native part included) without dist/bin/`file`. */
  function packageWithout(file: string): string {
    const dir = packageWith(readdirSync(join(ROOT, 'native/build')));
    rmSync(join(dir, 'dist/bin', file));
    return dir;
  }
  const noCommands = packageWithout('sandbox-commands.cjs');
  const noValidator = packageWithout('policy-validator.cjs');
  after(() => {
    rmSync(noCommands, { recursive: true, force: true });
    rmSync(noValidator, { recursive: true, force: true });
  });

  test('no commands bundle: --help exits 125 naming the file and the fix; exec\'s usual line still runs', () => {
    const r = sandbox(noCommands, ['--help']);
    assert.equal(r.status, 125, r.stderr);
    assert.equal(r.stderr, 'sandbox: this installation is incomplete: dist/bin/sandbox-commands.cjs is missing; build it again (npm run build) [INSTALL_INCOMPLETE]\n');
    const run = sandbox(noCommands, ['exec', '--policy', 'strict', '--', '/bin/true']);
    assert.equal(run.status, 0, run.stderr);
  });

  test('no policy validator: a policy of the user\'s exits 125 naming the file; the shipped ones still run', () => {
    const policy = join(noValidator, 'mine.json');
    writeFileSync(policy, JSON.stringify({ extends: 'strict' }));
    const r = sandbox(noValidator, ['exec', '--policy', policy, '--', '/bin/true']);
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, /^sandbox: this installation is incomplete: \/\S+\/dist\/bin\/policy-validator\.cjs is missing; build it again \(npm run build\) \[INSTALL_INCOMPLETE\]\n$/);
    assert.equal(sandbox(noValidator, ['exec', '--policy', 'strict', '--', '/bin/true']).status, 0);
  });
});
