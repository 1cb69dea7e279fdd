/**
 * A policy file that is not a regular file of at most 4 MiB is refused before it is read
 * (src/policy/read-config-file.ts): `--policy /dev/zero` used to abort the CLI with std::bad_alloc and
 * `--policy FIFO` to block it forever. Each case must end at once with exit 125 and one line naming
 * the file and what it is. The CLI runs with its address space capped (2 GiB) and under a timeout, so
 * that a regression fails this test instead of exhausting the host.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SandboxError } from '../../src/errors.js';
import { loadPolicy } from '../../src/policy/load.js';
import { CLI } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'sbx-policy-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** `sandbox ARGS` with a 2 GiB address space and a 30 s timeout: SIGKILLed if it hangs (a CLI blocked in open(2) of a FIFO
 * cannot run its SIGTERM handler), so signal is set if it hung or aborted. */
function cappedCli(args: string[]): { status: number | null; signal: NodeJS.Signals | null; stderr: string; ms: number } {
  const started = Date.now();
  const r = spawnSync('sh', ['-c', 'ulimit -v 2097152; exec "$0" "$@"', process.execPath, CLI, ...args], { encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
  return { status: r.status, signal: r.signal, stderr: r.stderr, ms: Date.now() - started };
}

/** A FIFO (no writer), /dev/zero, a directory, and a file of `fill` (about 5 MiB, over the 4 MiB cap). */
function badConfigFiles(where: string, fill: (bytes: number) => string): { name: string; file: string; what: RegExp }[] {
  const fifo = join(where, 'fifo.json');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo (coreutils) is needed');
  mkdirSync(join(where, 'dir.json'));
  const big = join(where, 'big.json');
  writeFileSync(big, fill(5 << 20));
  return [
    { name: 'a FIFO', file: fifo, what: /it is a FIFO, not a regular file/ },
    { name: '/dev/zero', file: '/dev/zero', what: /it is a character device, not a regular file/ },
    { name: 'a directory', file: join(where, 'dir.json'), what: /it is a directory, not a regular file/ },
    { name: 'a 5 MiB file', file: big, what: new RegExp(`it is ${statSync(big).size} bytes; a configuration file may have at most 4194304 \\(4 MiB\\)`) },
  ];
}

// valid JSON and a valid policy: only its size is wrong
const bad = badConfigFiles(dir, (n) => JSON.stringify({ name: 'big', description: 'x'.repeat(n) }));

for (const c of bad) {
  test(`--policy naming ${c.name} is refused at once: exit 125, POLICY_INVALID, the path and what it is`, () => {
    const r = cappedCli(['exec', '--policy', c.file, '--', '/bin/true']);
    assert.equal(r.signal, null, `the CLI was killed (hung or aborted) after ${r.ms} ms: ${r.stderr.slice(0, 300)}`);
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, new RegExp(`^sandbox: cannot read policy ${c.file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `));
    assert.match(r.stderr, c.what);
    assert.match(r.stderr, /\[POLICY_INVALID\]\n$/);
  });
}

test('an `extends` naming /dev/zero is refused the same way', () => {
  const file = join(dir, 'extends-zero.json');
  writeFileSync(file, JSON.stringify({ extends: '/dev/zero' }));
  // through the CLI (capped) rather than loadPolicy here: a regression would abort this test process
  const r = cappedCli(['exec', '--policy', file, '--', '/bin/true']);
  assert.equal(r.signal, null, `the CLI was killed after ${r.ms} ms: ${r.stderr.slice(0, 300)}`);
  assert.equal(r.status, 125, r.stderr);
  assert.match(r.stderr, /^sandbox: cannot read policy \/dev\/zero: it is a character device, not a regular file \[POLICY_INVALID\]\n$/);
});

test('a policy that is a symlink to a regular file is still read (no O_NOFOLLOW)', () => {
  const target = join(dir, 'real.json');
  writeFileSync(target, JSON.stringify({ name: 'via-link', hostname: 'linked' }));
  symlinkSync(target, join(dir, 'link.json'));
  assert.equal(loadPolicy(join(dir, 'link.json')).policy.hostname, 'linked');
});

test('a missing policy is still POLICY_NOT_FOUND', () => {
  assert.throws(() => loadPolicy(join(dir, 'missing.json')), (e: unknown) => e instanceof SandboxError && e.code === 'POLICY_NOT_FOUND' && /no such file/.test(e.message));
});

// The other files a caller names: each refused the same way, at once, with exit 125.
const others = join(dir, 'others');
mkdirSync(others);
const otherBad = badConfigFiles(others, (n) => 'x'.repeat(n));
const acceptAnything = join(others, 'trust.json');
writeFileSync(acceptAnything, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
const seccompPolicy = (file: string) => {
  const p = join(others, `seccomp-${Math.random().toString(16).slice(2)}.json`);
  writeFileSync(p, JSON.stringify({ extends: 'strict', seccomp: { file } }));
  return p;
};
const otherCases: { what: string; args: (file: string) => string[]; message: RegExp }[] = [
  { what: 'a policy\'s seccomp profile', args: (f) => ['exec', '--policy', seccompPolicy(f), '--', '/bin/true'], message: /cannot read seccomp profile .*: (not a regular file|\d+ bytes; a profile may have at most 4194304)/ },
  { what: '`policy check FILE`', args: (f) => ['policy', 'check', f], message: /cannot read .*: it is / },
  { what: '`verify-bundle --key`', args: (f) => ['verify-bundle', '--key', f, '--bundle', f, 'sha256:' + '0'.repeat(64)], message: /cannot read the .* it is / },
  { what: '`image sign --key`', args: (f) => ['image', 'sign', '--key', f, others], message: /cannot load private key .*: it is / },
  { what: '`image verify --bundle`', args: (f) => ['image', 'verify', others, '--bundle', f, '--trust-policy', acceptAnything], message: /--bundle .*: cannot read it: it is / },
];
for (const o of otherCases) {
  for (const c of otherBad) {
    test(`${o.what} naming ${c.name} is refused at once with exit 125`, () => {
      const r = cappedCli(o.args(c.file));
      assert.equal(r.signal, null, `the CLI was killed (hung or aborted) after ${r.ms} ms: ${r.stderr.slice(0, 300)}`);
      assert.equal(r.status, 125, r.stderr);
      assert.match(r.stderr, o.message);
    });
  }
}
