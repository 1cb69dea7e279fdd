/**
 * `sandbox policy check|compile|explain`, through the real CLI.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileSeccomp, decodeProgram, validateProgram, hostArch } from '../../src/seccomp/index.js';
import { REPO, scratchDir } from './helpers/native.js';

const CLI = join(REPO, 'dist/bin/sandbox.cjs');
const STRICT = join(REPO, 'policies/seccomp/strict.json');
const DOCKER = join(REPO, 'test/seccomp/fixtures/docker-style.json');

function sandbox(...args: string[]): { status: number | null; stdout: string; stderr: string; raw: Buffer } {
  const r = spawnSync(process.execPath, [CLI, 'policy', ...args], { cwd: REPO, maxBuffer: 16 << 20 });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString(), raw: r.stdout };
}

const dir = scratchDir();
writeFileSync(join(dir, 'bad.json'), JSON.stringify({ defaultAction: 'errno', syscalls: [{ names: ['ioctl'], action: 'errno', args: [{ index: 1, op: 'eq', value: 'TIOCSTY' }] }, { names: ['read'], action: 'permit' }] }));
writeFileSync(join(dir, 'policy-file.json'), JSON.stringify({ name: 'p', seccomp: { file: STRICT } }));
writeFileSync(join(dir, 'policy-rel.json'), JSON.stringify({ name: 'p', seccomp: { file: 'profiles/docker.json' } }));
spawnSync('mkdir', ['-p', join(dir, 'profiles')]);
writeFileSync(join(dir, 'profiles/docker.json'), readFileSync(DOCKER));
writeFileSync(join(dir, 'policy-inline.json'), JSON.stringify({ name: 'p', seccomp: { defaultAction: 'errno', syscalls: [{ names: ['@default', '@basic-io'], action: 'allow' }] } }));
writeFileSync(join(dir, 'child.json'), JSON.stringify({ name: 'c', extends: './policy-inline.json' }));
writeFileSync(join(dir, 'no-filter.json'), JSON.stringify({ name: 'n', seccomp: null }));

test('check: the strict profile is ok, with its lints listed', () => {
  const r = sandbox('check', STRICT);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /strict\.json: ok \(sandbox seccomp section; x86_64: \d+ instructions, aarch64: \d+ instructions\)/);
  assert.match(r.stdout, /info: ioctl: .* errno\(1\) wins .*\[lint\/overlap\]/);
});

test('check: errors exit 1 and name the JSON pointer (human and --json)', () => {
  const r = sandbox('check', join(dir, 'bad.json'));
  assert.equal(r.status, 1);
  assert.match(r.stdout, /FAILED/);
  assert.match(r.stdout, /\/syscalls\/1\/action/);
  const j = sandbox('check', join(dir, 'bad.json'), '--json');
  assert.equal(j.status, 1);
  const report = JSON.parse(j.stdout);
  assert.equal(report.ok, false);
  assert.ok(report.errors.some((e: { pointer?: string }) => e.pointer === '/syscalls/1/action'), j.stdout);
});

test('check: OCI profiles, policy files with {file} (absolute and relative), inline sections, extends, no filter', () => {
  const docker = sandbox('check', DOCKER, '--json');
  assert.equal(docker.status, 0, docker.stdout);
  assert.equal(JSON.parse(docker.stdout).format, 'oci');
  for (const f of ['policy-file.json', 'policy-rel.json', 'policy-inline.json', 'child.json']) {
    const r = sandbox('check', join(dir, f));
    assert.equal(r.status, 0, `${f}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /: ok /);
  }
  const none = sandbox('check', join(dir, 'no-filter.json'));
  assert.equal(none.status, 0);
  assert.match(none.stdout, /no seccomp filter/);
});

test('compile: raw is the sock_filter bytes compileSeccomp produces; disasm and json formats', () => {
  const r = sandbox('compile', STRICT, '--arch', 'x86_64');
  assert.equal(r.status, 0, r.stderr);
  const expected = compileSeccomp(JSON.parse(readFileSync(STRICT, 'utf8')), { arch: 'x86_64' }).program;
  assert.ok(r.raw.equals(expected));
  assert.deepEqual(validateProgram(decodeProgram(r.raw)), []);
  const d = sandbox('compile', STRICT, '--arch', 'aarch64', '--format', 'disasm');
  assert.match(d.stdout, /^; aarch64, \d+ instructions, sha256 [0-9a-f]{64}\n000: ld   \[4\]/);
  assert.match(d.stdout, /arch == aarch64/);
  const j = JSON.parse(sandbox('compile', join(dir, 'policy-rel.json'), '--format', 'json').stdout);
  assert.equal(j.arch, hostArch());
  assert.equal(Buffer.from(j.program, 'base64').length, j.instructions * 8);
  assert.ok(j.warnings.some((w: string) => /SCMP_ARCH_X86/.test(w)));
});

test('explain: the decision and why', () => {
  const t = sandbox('explain', STRICT, 'ioctl', '0', '0x100005412', '--arch', 'x86_64');
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, /^ioctl\(0x0, 0x100005412\) \[nr 16\] on x86_64: errno\(1\)\n {2}why: the rule at \/syscalls\/22\/names\/0 matches/); // the TIOCSTI rule (strict.json)
  const j = JSON.parse(sandbox('explain', STRICT, 'socket', 'AF_ALG', '--json', '--arch', 'aarch64').stdout);
  assert.equal(j.action, 'errno(97)');
  assert.equal(j.nr, 198);
  assert.match(sandbox('explain', STRICT, 'clone3', '--arch', 'x86_64').stdout, /errno\(38\)\n {2}why: clone3 is always answered with ENOSYS/);
  assert.match(sandbox('explain', STRICT, '600', '--arch', 'x86_64').stdout, /above the highest syscall number/);
  assert.match(sandbox('explain', STRICT, 'getppid').stdout, /: allow\n/);
  assert.match(sandbox('explain', STRICT, 'mount').stdout, /errno\(1\)/);
});

test('usage errors exit 125 with one line', () => {
  for (const args of [['check', join(dir, 'missing.json')], ['compile', STRICT, '--arch', 'mips'], ['explain', STRICT, 'ioctl', '0', 'TIOCSTY'], ['compile', join(dir, 'no-filter.json')]]) {
    const r = sandbox(...args);
    assert.equal(r.status, 125, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  const unknown = sandbox('explain', STRICT, 'open', '--arch', 'aarch64');
  assert.equal(unknown.status, 1, 'not a syscall on aarch64');
  assert.match(unknown.stderr, /open is not a syscall on aarch64/);
});
