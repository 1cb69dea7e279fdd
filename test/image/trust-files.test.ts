/**
 * Trust files that are not a regular file of at most 4 MiB are refused before they are read
 * (src/policy/read-config-file.ts): `--trust-policy /dev/zero` used to grow the CLI to 24 GB until the
 * OOM killer came, and a FIFO blocked it forever. The same holds for the files a trust policy names
 * (keyPath, trustedRootPath) and for `verify-bundle --trusted-root`. Each case must end at once with
 * exit 125, [TRUST], and one line naming the file and what it is. The CLI runs with its address
 * space capped (2 GiB) and under a timeout, so that a regression fails the test, not the host.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, busyboxTar, ecKeyPair, runCli, writeFile, writeLayout } from './helpers.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sbx-trust-files-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

/** `sandbox ARGS` with a 2 GiB address space and a 30 s timeout: SIGKILLed if it hangs (a CLI blocked in open(2) of a FIFO
 * cannot run its SIGTERM handler), so signal is set if it hung or aborted. */
function cappedCli(args: string[]): { status: number | null; signal: NodeJS.Signals | null; stderr: string; ms: number } {
  const started = Date.now();
  const r = spawnSync('sh', ['-c', 'ulimit -v 2097152; exec "$0" "$@"', process.execPath, CLI, ...args], { encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
  return { status: r.status, signal: r.signal, stderr: r.stderr, ms: Date.now() - started };
}

/** A FIFO (no writer), /dev/zero, a directory, and a file of `fill` (about 5 MiB, over the 4 MiB cap). */
function badFiles(name: string, fill: (bytes: number) => string): { name: string; file: string; what: RegExp }[] {
  const where = fs.mkdtempSync(path.join(dir, `${name}-`));
  const fifo = path.join(where, 'fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo (coreutils) is needed');
  fs.mkdirSync(path.join(where, 'dir'));
  const big = writeFile(where, 'big', fill(5 << 20));
  return [
    { name: 'a FIFO', file: fifo, what: /it is a FIFO, not a regular file/ },
    { name: '/dev/zero', file: '/dev/zero', what: /it is a character device, not a regular file/ },
    { name: 'a directory', file: path.join(where, 'dir'), what: /it is a directory, not a regular file/ },
    { name: 'a 5 MiB file', file: big, what: new RegExp(`it is ${fs.statSync(big).size} bytes; a configuration file may have at most 4194304 \\(4 MiB\\)`) },
  ];
}

const quote = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

function assertRefused(r: ReturnType<typeof cappedCli>, prefix: string, what: RegExp): void {
  assert.equal(r.signal, null, `the CLI was killed (hung or out of memory) after ${r.ms} ms: ${r.stderr.slice(0, 300)}`);
  assert.equal(r.status, 125, r.stderr);
  assert.match(r.stderr, new RegExp(`^sandbox: ${prefix}`));
  assert.match(r.stderr, what);
  assert.match(r.stderr, /\[TRUST\]\n$/);
}

// An image signed with `key`: the key file is what the trust policy's keyPath names.
const key = ecKeyPair();
const layout = writeLayout(path.join(dir, 'app'), { layers: [busyboxTar()], tag: 'v1' });
assert.equal(runCli(['image', 'sign', '--key', writeFile(dir, 'k.key', key.privatePem), layout.dir]).status, 0);

// valid JSON (a policy accepting everything) that is only too large
for (const c of badFiles('policy', (n) => `{"default":[{"type":"insecureAcceptAnything"}]}${' '.repeat(n)}`)) {
  test(`--trust-policy naming ${c.name} is refused at once: exit 125, TRUST, the path and what it is`, () => {
    const r = cappedCli(['image', 'import', layout.dir, '--store', path.join(dir, 'store'), '--trust-policy', c.file]);
    assertRefused(r, `trust policy ${quote(c.file)}: `, c.what);
  });
}

// the right key, followed by blank lines: only its size is wrong
for (const c of badFiles('key', (n) => key.publicPem + '\n'.repeat(n))) {
  test(`a trust policy whose keyPath names ${c.name} is refused at once: exit 125, TRUST`, () => {
    const policy = writeFile(dir, 'keyed.json', JSON.stringify({ default: [{ type: 'sigstoreSigned', keyPath: c.file }] }));
    const r = cappedCli(['image', 'import', layout.dir, '--store', path.join(dir, 'store'), '--trust-policy', policy]);
    assertRefused(r, `.*cannot read public key ${quote(c.file)}: `, c.what);
  });
}

for (const c of badFiles('root', (n) => ' '.repeat(n))) {
  test(`verify-bundle --trusted-root naming ${c.name} is refused at once: exit 125, TRUST`, () => {
    const r = cappedCli(['verify-bundle', `sha256:${'0'.repeat(64)}`, '--bundle', path.join(dir, 'no-bundle'),
      '--certificate-identity', 'a@example.com', '--certificate-oidc-issuer', 'https://issuer.example', '--trusted-root', c.file]);
    assertRefused(r, `cannot read trusted root ${quote(c.file)}: `, c.what);
  });
}
