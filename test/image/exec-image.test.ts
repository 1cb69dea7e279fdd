/**
 * End to end: `sandbox exec --image REF` runs a command from a signed, imported image, and
 * refuses an image the trust policy does not admit (exit 125, nothing run).
 * Needs the launcher (native/) and `exec --image` integration by the lead.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { busyboxTar, ecKeyPair, runCli, tempDir, writeFile, writeLayout } from './helpers.js';

test('exec --image runs /bin/busybox echo hi from a signed image', (t) => {
  const img = signedImage(t);
  const r = runCli(['exec', ...img.flags, '--', '/bin/busybox', 'echo', 'hi']);
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  assert.equal(r.stdout, 'hi\n');
});

test('exec --image refuses an unsigned image under a signature-requiring policy (exit 125, nothing run)', (t) => {
  const dir = tempDir(t);
  const layout = writeLayout(path.join(dir, 'bb'), { layers: [busyboxTar()], tag: 'v1' });
  const store = path.join(dir, 'store');
  const lax = writeFile(dir, 'lax.json', '{"default":[{"type":"insecureAcceptAnything"}]}');
  assert.equal(runCli(['image', 'import', layout.dir, '--store', store, '--trust-policy', lax]).status, 0);
  const strict = writeFile(dir, 'strict.json', JSON.stringify({ default: [{ type: 'sigstoreSigned', keyPath: writeFile(dir, 'k.pub', ecKeyPair().publicPem) }] }));
  const r = runCli(['exec', '--image', 'bb:v1', '--store', store, '--trust-policy', strict, '--', '/bin/busybox', 'echo', 'hi']);
  assert.equal(r.status, 125);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /has no signature.*\[TRUST\]/);
});

/** A signed busybox image with `config` (the image config's `config` object), imported as bb:v1. */
function signedImage(t: { after: (fn: () => void) => void }, config?: Record<string, unknown>): { store: string; policy: string; flags: string[] } {
  const dir = tempDir(t);
  const layout = writeLayout(path.join(dir, 'bb'), { layers: [busyboxTar()], tag: 'v1', ...(config ? { config: { config } } : {}) });
  const key = ecKeyPair();
  const policy = writeFile(dir, 'trust.json', JSON.stringify({ default: [{ type: 'sigstoreSigned', keyPath: writeFile(dir, 'k.pub', key.publicPem) }] }));
  const store = path.join(dir, 'store');
  assert.equal(runCli(['image', 'sign', '--key', writeFile(dir, 'k.key', key.privatePem), layout.dir]).status, 0);
  const imp = runCli(['image', 'import', layout.dir, '--store', store, '--trust-policy', policy]);
  assert.equal(imp.status, 0, imp.stderr);
  return { store, policy, flags: ['--image', 'bb:v1', '--store', store, '--trust-policy', policy] };
}

test('exec --image with no command (with or without a trailing --) runs the image\'s Entrypoint/Cmd', (t) => {
  const img = signedImage(t, { Entrypoint: ['/bin/busybox', 'echo'], Cmd: ['from', 'cmd'] });
  for (const tail of [[], ['--']]) {
    const r = runCli(['exec', ...img.flags, ...tail]);
    assert.equal(r.stderr, '', tail.join(' '));
    assert.equal(r.status, 0);
    assert.equal(r.stdout, 'from cmd\n');
  }
  // a command given replaces Cmd, after the Entrypoint
  assert.equal(runCli(['exec', ...img.flags, '--', 'given']).stdout, 'given\n');
  // a word before `--` is still no command
  const stray = runCli(['exec', ...img.flags, 'stray']);
  assert.equal(stray.status, 125);
  assert.match(stray.stderr, /missing `-- COMMAND`.*\[USAGE\]/);
});

test('exec without --image and without a command still fails: exit 125, missing -- COMMAND', () => {
  for (const args of [['exec'], ['exec', '--'], ['exec', '--policy', 'strict'], ['exec', '--policy', 'strict', '--']]) {
    const r = runCli(args);
    assert.equal(r.status, 125, args.join(' '));
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /missing `-- COMMAND`.*\[USAGE\]/);
  }
});

test('an unusable image config is named as the image config\'s, not as options the caller never passed', async (t) => {
  const { run } = await import('../../src/api.js');
  const cases: { config: Record<string, unknown>; command: string[]; code: string; message: RegExp }[] = [
    { config: { Cmd: ['/bin/busybox', 'pwd'], WorkingDir: 'rel' }, command: [], code: 'IMAGE', message: /^image config WorkingDir "rel" is not an absolute path.*give --workdir/ },
    { config: { Cmd: ['/bin/busybox', 'pwd'], WorkingDir: '/a/../..' }, command: [], code: 'IMAGE', message: /^image config WorkingDir "\/a\/\.\.\/\.\." is not an absolute path/ },
    { config: { Entrypoint: [''], Cmd: ['x'] }, command: ['/bin/busybox', 'true'], code: 'IMAGE', message: /^image config Entrypoint starts with an empty string/ },
    { config: { Cmd: [''] }, command: [], code: 'IMAGE', message: /^image config Cmd starts with an empty string/ },
    { config: {}, command: [], code: 'USAGE', message: /^the image config has neither Entrypoint nor Cmd: put the command after --/ },
  ];
  for (const c of cases) {
    const img = signedImage(t, c.config);
    const r = await run({ image: 'bb:v1', store: img.store, trustPolicy: img.policy, command: c.command, stdout: 'buffer', stderr: 'buffer', launcher: 'spawn' });
    assert.equal(r.status, 'XX', JSON.stringify(c.config));
    assert.equal(r.error?.code, c.code, r.message);
    assert.match(r.message, c.message);
    assert.doesNotMatch(r.message, /^--workdir|no command given/);
  }
  // --workdir overrides a bad WorkingDir: the image is then runnable
  const img = signedImage(t, { Cmd: ['/bin/busybox', 'pwd'], WorkingDir: 'rel' });
  const r = await run({ image: 'bb:v1', store: img.store, trustPolicy: img.policy, command: [], workdir: '/tmp', stdout: 'buffer', stderr: 'buffer', launcher: 'spawn' });
  assert.equal(r.status, 'OK', r.message);
  assert.equal(String(r.stdout), '/tmp\n');
});
