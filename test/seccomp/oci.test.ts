/**
 * OCI runtime-spec / Docker profiles, with runc's semantics.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { compileFilter, decodeAction, formatAction, runFilter, syscallNumber, AUDIT_ARCH_X86_64, isSeccompError, detectFormat, type CompiledFilter } from '../../src/seccomp/index.js';
import { assertProgramMatchesPolicy } from './helpers/equiv.js';

const run = (f: CompiledFilter, name: string, args: bigint[] = []): string =>
  formatAction(decodeAction(runFilter(f.insns, { nr: syscallNumber('x86_64', name)!, arch: AUDIT_ARCH_X86_64, args })));
const ctx = { arch: 'x86_64' as const, kernel: '6.1' };

test('format detection: SCMP_ACT_* default means OCI/Docker, anything else ours', () => {
  assert.equal(detectFormat({ defaultAction: 'SCMP_ACT_ERRNO' }), 'oci');
  assert.equal(detectFormat({ defaultAction: 'errno' }), 'sandbox');
});

test('actions, errnoRet and defaultErrnoRet (runc: EPERM when absent, for ERRNO and TRACE)', () => {
  const f = compileFilter({
    defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38,
    syscalls: [
      { names: ['read'], action: 'SCMP_ACT_ALLOW' },
      { names: ['write'], action: 'SCMP_ACT_ERRNO' },
      { names: ['close'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
      { names: ['getpid'], action: 'SCMP_ACT_KILL' },
      { names: ['getppid'], action: 'SCMP_ACT_KILL_PROCESS' },
      { names: ['gettid'], action: 'SCMP_ACT_TRAP' },
      { names: ['getuid'], action: 'SCMP_ACT_TRACE' },
      { names: ['getgid'], action: 'SCMP_ACT_LOG' },
      { names: ['geteuid'], action: 'SCMP_ACT_KILL_THREAD' },
    ],
  }, ctx);
  assert.equal(run(f, 'read'), 'allow');
  assert.equal(run(f, 'write'), 'errno(1)');
  assert.equal(run(f, 'close'), 'errno(13)');
  assert.equal(run(f, 'getpid'), 'kill_thread', 'SCMP_ACT_KILL is kill-thread in libseccomp');
  assert.equal(run(f, 'getppid'), 'kill_process');
  assert.equal(run(f, 'gettid'), 'trap');
  assert.equal(run(f, 'getuid'), 'trace(1)');
  assert.equal(run(f, 'getgid'), 'log');
  assert.equal(run(f, 'geteuid'), 'kill_thread');
  assert.equal(run(f, 'mount'), 'errno(38)', 'defaultErrnoRet');
});

test('conditions on distinct indexes are ANDed', () => {
  const f = compileFilter({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [
    { index: 0, value: 16, op: 'SCMP_CMP_EQ' }, { index: 2, value: 0, op: 'SCMP_CMP_EQ' }] }] }, ctx);
  assert.equal(run(f, 'socket', [16n, 3n, 0n]), 'allow');
  assert.equal(run(f, 'socket', [16n, 3n, 9n]), 'errno(1)');
  assert.equal(run(f, 'socket', [2n, 3n, 0n]), 'errno(1)');
});

test('a repeated index makes every condition its own rule (OR), as runc does', () => {
  const f = compileFilter({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [
    { index: 0, value: 0, op: 'SCMP_CMP_EQ' }, { index: 0, value: 8, op: 'SCMP_CMP_EQ' }, { index: 1, value: 5, op: 'SCMP_CMP_EQ' }] }] }, ctx);
  assert.equal(run(f, 'personality', [0n, 0n]), 'allow');
  assert.equal(run(f, 'personality', [8n, 0n]), 'allow');
  assert.equal(run(f, 'personality', [9n, 5n]), 'allow', 'the index-1 condition alone is a rule too');
  assert.equal(run(f, 'personality', [9n, 0n]), 'errno(1)');
  assert.equal(f.ir.rules.filter((r) => r.name === 'personality').length, 3);
});

test('SCMP_CMP_MASKED_EQ: value is the mask, valueTwo the datum', () => {
  const f = compileFilter({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [
    { index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] }] }, ctx);
  assert.equal(run(f, 'clone', [0x11n]), 'allow');
  assert.equal(run(f, 'clone', [0x10000011n]), 'errno(1)', 'CLONE_NEWUSER');
  assertProgramMatchesPolicy(f);
  // As libseccomp (and so runc): datum bits outside the mask are ignored.
  const g = compileFilter({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['mmap'], action: 'SCMP_ACT_ALLOW', args: [
    { index: 3, value: 0xff, valueTwo: 0x112, op: 'SCMP_CMP_MASKED_EQ' }] }] }, ctx);
  assert.equal(run(g, 'mmap', [0n, 0n, 0n, 0x12n]), 'allow');
  assert.equal(run(g, 'mmap', [0n, 0n, 0n, 0x112n]), 'allow');
});

test('rules whose action equals the default are skipped (libseccomp refuses them; runc drops them)', () => {
  const f = compileFilter({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [
    { names: ['write'], action: 'SCMP_ACT_ALLOW' },
    { names: ['write'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 5, op: 'SCMP_CMP_EQ' }] },
    { names: ['read'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
  ] }, ctx);
  assert.equal(run(f, 'write', [5n]), 'allow', 'the ERRNO(EPERM) rule equals the default and is dropped');
  assert.equal(run(f, 'read'), 'errno(13)', 'a different errno is a different action and is kept');
});

test('unknown syscall names: a warning, or an error under strict; names of other arches are silent', () => {
  const p = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'no_such_call', 'socketcall'], action: 'SCMP_ACT_ALLOW' }] };
  const f = compileFilter(p, ctx);
  assert.deepEqual(f.warnings, ['/syscalls/0/names/1: unknown syscall "no_such_call" skipped']);
  assert.equal(run(f, 'read'), 'allow');
  assert.throws(() => compileFilter(p, { ...ctx, strict: true }),
    (e: unknown) => isSeccompError(e) && e.code === 'UNKNOWN_SYSCALL' && e.pointer === '/syscalls/0/names/1');
});

test('moby includes/excludes resolve against caps, arch and kernel version', () => {
  const p = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [
    { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
    { names: ['reboot'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN', 'CAP_SYS_BOOT'] } },
    { names: ['unshare'], action: 'SCMP_ACT_ALLOW', excludes: { caps: ['CAP_SYS_ADMIN'] } },
    { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32', 'x86'] } },
    { names: ['sync'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm64'] } },
    { names: ['ptrace'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '4.8' } },
    { names: ['kcmp'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '6.5' } },
    { names: ['syslog'], action: 'SCMP_ACT_ALLOW', excludes: { minKernel: '6.0' } },
    { names: ['acct'], action: 'SCMP_ACT_ALLOW', excludes: { arches: ['amd64'] } },
  ] };
  const none = compileFilter(p, ctx);
  assert.equal(run(none, 'mount'), 'errno(1)');
  assert.equal(run(none, 'unshare'), 'allow');
  assert.equal(run(none, 'arch_prctl'), 'allow');
  assert.equal(run(none, 'sync'), 'errno(1)');
  assert.equal(run(none, 'ptrace'), 'allow');
  assert.equal(run(none, 'kcmp'), 'errno(1)', 'kernel 6.1 < 6.5');
  assert.equal(run(none, 'syslog'), 'errno(1)', 'excluded from 6.0 on');
  assert.equal(run(none, 'acct'), 'errno(1)');
  const admin = compileFilter(p, { ...ctx, caps: ['CAP_SYS_ADMIN'] });
  assert.equal(run(admin, 'mount'), 'allow');
  assert.equal(run(admin, 'reboot'), 'errno(1)', 'all included caps are needed');
  assert.equal(run(admin, 'unshare'), 'errno(1)');
  assert.equal(run(compileFilter(p, { ...ctx, kernel: '6.5.0-1-amd64' }), 'kcmp'), 'allow');
});

test('architectures: compat ABIs listed in a profile are reported and still killed', () => {
  const f = compileFilter({ defaultAction: 'SCMP_ACT_ALLOW', archMap: [
    { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
    { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
  ] }, ctx);
  assert.match(f.warnings.join('\n'), /SCMP_ARCH_X86, SCMP_ARCH_X32 are not allowed/);
  assert.equal(formatAction(decodeAction(runFilter(f.insns, { nr: 20, arch: 0x40000003 }))), 'kill_process');
  assert.throws(() => compileFilter({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_VAX'] }, ctx),
    (e: unknown) => isSeccompError(e) && e.pointer === '/architectures/0');
});

test('flags are returned; SPEC_ALLOW is warned about; bad input names the JSON pointer', () => {
  const f = compileFilter({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'] }, ctx);
  assert.equal(f.flags, 6);
  assert.match(f.warnings.join('\n'), /SPEC_ALLOW/);
  const cases: [object, string][] = [
    [{ defaultAction: 'SCMP_ACT_NOPE' }, '/defaultAction'],
    [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', errnoRet: 0 }] }, '/syscalls/0/errnoRet'],
    [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 6, value: 1, op: 'SCMP_CMP_EQ' }] }] }, '/syscalls/0/args/0/index'],
    [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_XX' }] }] }, '/syscalls/0/args/0/op'],
    [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [], action: 'SCMP_ACT_ERRNO' }] }, '/syscalls/0/names'],
    [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', errnoRet: 1 }] }, '/syscalls/0/errnoRet'],
    [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 2 ** 60, op: 'SCMP_CMP_EQ' }] }] }, '/syscalls/0/args/0/value'],
    [{ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_NOPE'] }, '/flags/0'],
  ];
  for (const [p, ptr] of cases) {
    assert.throws(() => compileFilter(p, ctx), (e: unknown) => isSeccompError(e) && e.pointer === ptr, `${ptr}: ${JSON.stringify(p)}`);
  }
});

test('the legacy moby "name" field and big values through the lossless parser', async () => {
  const { parseJsonLossless } = await import('../../src/seccomp/index.js');
  const p = parseJsonLossless('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"mmap","action":"SCMP_ACT_ERRNO","args":[{"index":2,"value":18446744073709551615,"op":"SCMP_CMP_EQ"}]}]}');
  const f = compileFilter(p, ctx);
  assert.equal(run(f, 'mmap', [0n, 0n, 0xffffffffffffffffn]), 'errno(1)');
  assert.equal(run(f, 'mmap', [0n, 0n, 0xfffffffffffff800n]), 'allow', 'not rounded to a double');
});
