/**
 * The strict policy through `sandbox exec` itself: real workloads run, and the filter the launcher
 * installs denies what the policy denies. (The same checks without the sandbox, against the bare
 * filter, are in kernel-policy.test.ts.)
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as seccomp from '../../src/seccomp/index.js';
import { hostArch, syscallName, syscallNumber } from '../../src/seccomp/index.js';
import { REPO } from './helpers/native.js';

const nr = (name: string): number => syscallNumber(hostArch(), name)!;

const CLI = join(REPO, 'dist/bin/sandbox.cjs');

function exec(script: string, policy = 'strict'): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'exec', '--policy', policy, '--', '/bin/sh', '-c', script], { encoding: 'utf8', timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A Python program that makes raw system calls: call() gives (result, errno), ok() (succeeded, errno). */
function syscallScript(lines: string[]): string {
  return [
    'import ctypes, os',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'libc.syscall.restype = ctypes.c_long',
    'def call(*a):',
    '    r = libc.syscall(*[ctypes.c_long(x) for x in a])',
    '    return (r, ctypes.get_errno() if r == -1 else 0)',
    'def ok(*a):',
    '    r, e = call(*a)',
    '    return (r >= 0, e)',
    ...lines,
  ].join('\n');
}

test('sandbox exec --policy strict: compile and run a C++ program', () => {
  const r = exec([
    'cd /tmp',
    `printf '%s\\n' '#include <iostream>' '#include <thread>' 'int main() { long s = 0; std::thread t([&] { for (int i = 1; i <= 1000; i++) s += i; }); t.join(); std::cout << "sum=" << s << std::endl; }' > a.cpp`,
    'g++ -O2 -pthread a.cpp -o a',
    './a',
  ].join(' && '));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /sum=500500/);
});

test('sandbox exec --policy strict: python3 runs (threads, subprocess, hashlib, json)', () => {
  const r = exec(`python3 -c 'import json, subprocess, threading, hashlib; t = threading.Thread(target=print); t.start(); t.join(); print(json.dumps([subprocess.run(["true"]).returncode, hashlib.sha256(b"x").hexdigest()[:8]]))'`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\[0, "2d711642"\]/);
});

test('sandbox exec --policy strict: the filter is installed (io_uring ENOSYS, TIOCSTI with high bits EPERM, AF_ALG refused)', () => {
  const py = syscallScript([
    'buf = ctypes.create_string_buffer(128)',
    `print("io_uring", call(${nr('io_uring_setup')}, 1, ctypes.addressof(buf)))`,
    `print("tiocsti", call(${nr('ioctl')}, 0, 0x100005412, 0))`,
    `print("af_alg", call(${nr('socket')}, 38, 5, 0))`,
    `print("unshare", call(${nr('unshare')}, 0x10000000))`,
  ]);
  const r = exec(`python3 -c '${py}'`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /io_uring \(-1, 38\)/);
  assert.match(r.stdout, /tiocsti \(-1, 1\)/);
  assert.match(r.stdout, /af_alg \(-1, 97\)/);
  assert.match(r.stdout, /unshare \(-1, 1\)/);
});

test('sandbox exec --policy strict: IP sockets are TCP and UDP only; a terminal\'s line discipline cannot change', () => {
  const py = syscallScript([
    'buf = ctypes.create_string_buffer(4)',
    // allowed: what programs use (also with SOCK_NONBLOCK|SOCK_CLOEXEC, and the protocol named)
    `print("tcp", ok(${nr('socket')}, 2, 1, 0), ok(${nr('socket')}, 2, 0x80801, 6), ok(${nr('socket')}, 10, 1, 6))`,
    `print("udp", ok(${nr('socket')}, 2, 2, 0), ok(${nr('socket')}, 10, 2, 17))`,
    // refused: MPTCP (262), UDP-Lite (136), SCTP (132) — these passed before, on the family alone
    `print("other", ok(${nr('socket')}, 2, 1, 262), ok(${nr('socket')}, 2, 2, 136), ok(${nr('socket')}, 10, 5, 132))`,
    `print("tiocsetd", ok(${nr('ioctl')}, 0, 0x5423, ctypes.addressof(buf)))`,
  ]);
  const r = exec(`python3 -c '${py}'`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /tcp \(True, 0\) \(True, 0\) \(True, 0\)/);
  assert.match(r.stdout, /udp \(True, 0\) \(True, 0\)/);
  assert.match(r.stdout, /other \(False, 1\) \(False, 1\) \(False, 1\)/);
  assert.match(r.stdout, /tiocsetd \(False, 1\)/);
});

test('sandbox exec --policy default: sockets are limited as in strict (every family was allowed but four)', () => {
  const py = syscallScript([
    `print("allowed", ok(${nr('socket')}, 1, 1, 0), ok(${nr('socket')}, 2, 0x80801, 6), ok(${nr('socket')}, 10, 2, 17), ok(${nr('socket')}, 16, 3, 0))`,
    // MPTCP, SCTP; AF_TIPC (30), AF_RDS (21), AF_BLUETOOTH (31) — kernel code no build needs
    `print("refused", ok(${nr('socket')}, 2, 1, 262), ok(${nr('socket')}, 10, 5, 132), ok(${nr('socket')}, 30, 2, 0), ok(${nr('socket')}, 21, 5, 0), ok(${nr('socket')}, 31, 1, 0))`,
    `print("socketpair", ok(${nr('socketpair')}, 1, 1, 0, ctypes.addressof(ctypes.create_string_buffer(8))), ok(${nr('socketpair')}, 30, 5, 0, ctypes.addressof(ctypes.create_string_buffer(8))))`,
  ]);
  const r = exec(`python3 -c '${py}'`, 'default');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /allowed \(True, 0\) \(True, 0\) \(True, 0\) \(True, 0\)/);
  assert.match(r.stdout, /refused \(False, 1\) \(False, 1\) \(False, 1\) \(False, 1\) \(False, 1\)/);
  assert.match(r.stdout, /socketpair \(True, 0\) \(False, 1\)/);
});

test('sandbox exec --policy strict: an x32 syscall kills the process with SIGSYS', () => {
  assert.equal(hostArch(), 'x86_64', 'x32 exists on x86_64 only; the project\'s machines are x86_64');
  const r = exec(`python3 -c 'import ctypes; ctypes.CDLL(None).syscall(0x40000027); print("survived")'; echo "status=$?"`);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /survived/);
  assert.match(r.stdout, /status=159/, '128 + SIGSYS (31)');
});

test('sandbox exec --policy strict: every syscall the filter denies returns exactly the errno the policy says', () => {
  // Expected decisions from the compiled program itself (the interpreter), for each syscall of the
  // table called with all-zero arguments; only the denied ones are called (a denied call never runs).
  const arch = hostArch();
  const { compileFilter, runFilter, decodeAction, archInfo, syscallNames } = seccomp;
  const compiled = compileFilter({ file: 'seccomp/strict.json' }, { arch, baseDir: join(REPO, 'policies') });
  const expected = new Map<number, number>();
  // uretprobe and uprobe are exempt from seccomp since Linux 6.13/6.16 (they act only when entered from the
  // kernel's own uprobe trampoline, and SIGILL/SIGSEGV the caller otherwise): no filter can answer them.
  const SECCOMP_EXEMPT = new Set(['uretprobe', 'uprobe']);
  for (const name of syscallNames(arch)) {
    if (SECCOMP_EXEMPT.has(name)) continue;
    const n = syscallNumber(arch, name)!;
    const action = decodeAction(runFilter(compiled.insns, { arch: archInfo(arch).auditArch, nr: n, args: [0n, 0n, 0n, 0n, 0n, 0n] }));
    if (action.kind === 'errno') expected.set(n, action.data);
  }
  assert.ok(expected.size > 50, `the strict profile denies many syscalls (${expected.size})`);
  const py = [
    'import ctypes',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'libc.syscall.restype = ctypes.c_long',
    `for n in [${[...expected.keys()].join(',')}]:`,
    '    ctypes.set_errno(0)',
    '    r = libc.syscall(ctypes.c_long(n), *[ctypes.c_long(0)] * 6)',
    '    print(n, r, ctypes.get_errno())',
  ].join('\n');
  const r = exec(`python3 -c '${py}'`);
  assert.equal(r.status, 0, r.stderr);
  const seen = new Map(r.stdout.trim().split('\n').map((l) => l.split(' ').map(Number)).map(([n, ret, errno]) => [n!, { ret: ret!, errno: errno! }]));
  const wrong: string[] = [];
  for (const [n, errno] of expected) {
    const got = seen.get(n);
    if (!got || got.ret !== -1 || got.errno !== errno) wrong.push(`${syscallName(arch, n)}: expected errno ${errno}, got ${JSON.stringify(got)}`);
  }
  assert.deepEqual(wrong, []);
});
