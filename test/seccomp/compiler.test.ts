/**
 * One test per rule of the compiler and per correctness requirement of the issue.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  compileFilter, compileSeccomp, runFilter, syscallName, decodeAction, formatAction, disassemble, syscallNumber, validateProgram,
  AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, AUDIT_ARCH_AARCH64, AUDIT_ARCH_ARM, bpf, isSeccompError, type CompiledFilter, type TargetArch,
} from '../../src/seccomp/index.js';
import { assertProgramMatchesPolicy } from './helpers/equiv.js';

const AUDIT: Record<TargetArch, number> = { x86_64: AUDIT_ARCH_X86_64, aarch64: AUDIT_ARCH_AARCH64 };

function run(f: CompiledFilter, name: string | number, args: bigint[] = [], arch?: number): string {
  const nr = typeof name === 'number' ? name : syscallNumber(f.ir.arch, name)!;
  assert.ok(nr !== undefined, `${name} on ${f.ir.arch}`);
  return formatAction(decodeAction(runFilter(f.insns, { nr, arch: arch ?? AUDIT[f.ir.arch], args })));
}

const allowBasics = { defaultAction: 'errno', syscalls: [{ names: ['read', 'write', 'getpid', 'getppid', 'close'], action: 'allow' }] };

for (const arch of ['x86_64', 'aarch64'] as const) {
  test(`${arch}: the arch is checked first; foreign arches get the bad-arch action`, () => {
    const f = compileFilter(allowBasics, { arch });
    assert.deepEqual(f.insns[0], { code: bpf.BPF_LD | bpf.BPF_W | bpf.BPF_ABS, jt: 0, jf: 0, k: bpf.SECCOMP_DATA_ARCH });
    assert.equal(f.insns[1]!.k, AUDIT[arch]);
    for (const foreign of [AUDIT_ARCH_I386, AUDIT_ARCH_ARM, arch === 'x86_64' ? AUDIT_ARCH_AARCH64 : AUDIT_ARCH_X86_64, 0]) {
      // getpid on i386 is 20 (= a different syscall natively): the arch check must come before any number.
      assert.equal(run(f, 20, [], foreign), 'kill_process');
      assert.equal(run(f, 'getpid', [], foreign), 'kill_process');
    }
    const trap = compileFilter({ ...allowBasics, badArchAction: 'trap' }, { arch });
    assert.equal(run(trap, 'getpid', [], AUDIT_ARCH_I386), 'trap');
  });

  test(`${arch}: numbers above the table are answered with ENOSYS; -1 (tracer skip) is allowed`, () => {
    const f = compileFilter({ defaultAction: 'kill_process', syscalls: [{ names: ['read'], action: 'allow' }] }, { arch });
    assert.equal(run(f, 471), 'kill_process', 'the highest number is in the table');
    for (const nr of [472, 473, 1000, 0x3fffffff]) assert.equal(run(f, nr), 'errno(38)', String(nr));
    assert.equal(run(f, 0xffffffff), 'allow');
    assertProgramMatchesPolicy(f);
  });

  test(`${arch}: clone3 gets ENOSYS; an explicit kill stays; allowing it is warned about`, () => {
    const f = compileFilter({ defaultAction: 'kill_process', syscalls: [{ names: ['clone3', 'clone'], action: 'allow' }] }, { arch });
    assert.equal(run(f, 'clone3'), 'errno(38)');
    assert.equal(run(f, 'clone'), 'allow');
    assert.match(f.warnings.join('\n'), /clone3 is always answered with ENOSYS/);
    const k = compileFilter({ defaultAction: 'allow', syscalls: [{ names: ['clone3'], action: 'kill_process' }] }, { arch });
    assert.equal(run(k, 'clone3'), 'kill_process');
    const d = compileFilter({ defaultAction: 'kill_process' }, { arch });
    assert.equal(run(d, 'clone3'), 'errno(38)', 'even under a kill default, so that threads can be created');
  });
}

test('x86_64: x32 numbers (bit 30) are killed, except 0xffffffff', () => {
  const f = compileFilter({ defaultAction: 'allow' }, { arch: 'x86_64' });
  for (const nr of [0x40000000, 0x40000000 + 39, 0x40000000 + 0x200, 0x7fffffff, 0x80000000, 0xfffffffe]) {
    assert.equal(run(f, nr), 'kill_process', nr.toString(16));
  }
  assert.equal(run(f, 0xffffffff), 'allow');
  assert.equal(run(f, 39), 'allow');
  const a = compileFilter({ defaultAction: 'allow' }, { arch: 'aarch64' });
  assert.equal(run(a, 0x40000000 + 39), 'errno(38)', 'aarch64 has no x32: just a number above the table');
});

test('64-bit comparisons split into words: every operator at its boundaries (x86_64 and aarch64)', () => {
  const values = ['0', '1', '0xffffffff', '0x100000000', '0x100000005', '0xfffffffe00000000', '0xffffffffffffffff', '0x80000000'];
  for (const arch of ['x86_64', 'aarch64'] as const) {
    for (const op of ['eq', 'ne', 'lt', 'le', 'gt', 'ge']) {
      for (const value of values) {
        // mmap's prot is compared on 64 bits (unsigned long); the rule allows, the default denies.
        const f = compileFilter({ defaultAction: 'errno', syscalls: [{ names: ['mmap'], action: 'allow', args: [{ index: 2, op, value }] }] }, { arch });
        assertProgramMatchesPolicy(f);
      }
    }
    for (const [mask, value] of [['0xff00000000000000', '0x0100000000000000'], ['0xffff', '0x12'], ['0xf0000000f', '0x100000001'], ['0', '0'], ['0xff', '0xff']]) {
      const f = compileFilter({ defaultAction: 'errno', syscalls: [{ names: ['mmap'], action: 'allow', args: [{ index: 3, op: 'masked_eq', mask, value }] }] }, { arch });
      assertProgramMatchesPolicy(f);
    }
    for (const mask of ['0x1', '0x100000000', '0x8000000000000001', '0']) {
      for (const op of ['any_set', 'none_set']) {
        const f = compileFilter({ defaultAction: 'errno', syscalls: [{ names: ['mmap'], action: 'allow', args: [{ index: 3, op, mask }] }] }, { arch });
        assertProgramMatchesPolicy(f);
      }
    }
  }
});

test('masked_eq: a value with bits outside the mask is refused in our format (it could never match)', () => {
  assert.throws(() => compileFilter({ defaultAction: 'allow', syscalls: [{ names: ['mmap'], action: 'errno', args: [{ index: 3, op: 'masked_eq', mask: '0xff', value: '0x100' }] }] }, { arch: 'x86_64' }),
    (e: unknown) => isSeccompError(e) && e.code === 'VALUE_RANGE' && e.pointer === '/syscalls/0/args/0/value');
});

test('32-bit arguments compare the low word only: ioctl(fd, 0x1_0000_5412) does not slip past TIOCSTI (CVE-2019-10063)', () => {
  const f = compileFilter({ defaultAction: 'allow', syscalls: [{ names: ['ioctl'], action: 'errno', args: [{ index: 1, op: 'eq', value: 'TIOCSTI' }] }] }, { arch: 'x86_64' });
  assert.equal(run(f, 'ioctl', [0n, 0x5412n]), 'errno(1)');
  assert.equal(run(f, 'ioctl', [0n, 0x1_0000_5412n]), 'errno(1)');
  assert.equal(run(f, 'ioctl', [0n, 0xffffffff_00005412n]), 'errno(1)');
  assert.equal(run(f, 'ioctl', [0n, 0x5413n]), 'allow');
  const text = disassemble(f.insns).join('\n');
  assert.doesNotMatch(text, /args\[1\]\.hi/, 'the high word of cmd is never loaded');
  // socket's domain is an int: the same holds for an allowlist.
  const s = compileFilter({ defaultAction: 'errno', syscalls: [{ names: ['socket'], action: 'allow', args: [{ index: 0, op: 'eq', value: 'AF_UNIX' }] }] }, { arch: 'aarch64' });
  assert.equal(run(s, 'socket', [0x1_0000_0001n]), 'allow', 'the kernel sees AF_UNIX');
  assert.equal(run(s, 'socket', [0x1_0000_0026n]), 'errno(1)', 'the kernel sees AF_ALG');
  assertProgramMatchesPolicy(f);
  assertProgramMatchesPolicy(s);
});

test('32-bit arguments: values with high bits are refused; sign-extended negative ints are accepted', () => {
  assert.throws(
    () => compileFilter({ defaultAction: 'allow', syscalls: [{ names: ['ioctl'], action: 'errno', args: [{ index: 1, op: 'eq', value: '0x100005412' }] }] }, { arch: 'x86_64' }),
    (e: unknown) => isSeccompError(e) && e.code === 'VALUE_RANGE' && e.pointer === '/syscalls/0/args/0' && /32 bits/.test(e.message),
  );
  const f = compileFilter({ defaultAction: 'allow', syscalls: [{ names: ['kill'], action: 'errno', args: [{ index: 0, op: 'eq', value: -1 }] }] }, { arch: 'x86_64' });
  assert.equal(run(f, 'kill', [0xffffffffn, 9n]), 'errno(1)', 'kill(-1, ...) as the kernel sees it');
  assert.equal(run(f, 'kill', [0xffffffffffffffffn, 9n]), 'errno(1)');
  assert.equal(run(f, 'kill', [1n, 9n]), 'allow');
});

test('the most restrictive matching rule wins, in kernel order', () => {
  const order = ['kill_process', 'kill_thread', 'trap', 'errno', 'notify', 'trace', 'log', 'allow'];
  for (let i = 0; i < order.length; i++) {
    for (let j = 0; j < order.length; j++) {
      if (i === j) continue;
      // Two overlapping rules on write's fd (arg0 == 1 and arg0 <= 2): both match fd 1.
      const f = compileFilter({ defaultAction: 'errno', defaultErrno: 'ENOSYS', syscalls: [
        { names: ['write'], action: order[i], args: [{ index: 0, op: 'eq', value: 1 }] },
        { names: ['write'], action: order[j], args: [{ index: 0, op: 'le', value: 2 }] },
      ] }, { arch: 'x86_64' });
      const winner = order[Math.min(i, j)]!;
      assert.equal(run(f, 'write', [1n]).replace(/\(.*\)$/, ''), winner, `${order[i]} vs ${order[j]}`);
      assert.equal(run(f, 'write', [2n]).replace(/\(.*\)$/, ''), order[j], 'only the second matches');
      assert.equal(run(f, 'write', [3n]), 'errno(38)', 'neither matches: default');
    }
  }
  // Unconditional vs conditional: the conditional deny carves an exception out of the allow.
  const g = compileFilter({ defaultAction: 'allow', syscalls: [
    { names: ['write'], action: 'allow' },
    { names: ['write'], action: 'kill_process', args: [{ index: 0, op: 'gt', value: 100 }] },
  ] }, { arch: 'x86_64' });
  assert.equal(run(g, 'write', [101n]), 'kill_process');
  assert.equal(run(g, 'write', [100n]), 'allow');
  // Equal rank, different errno: the earlier rule in the profile wins.
  const h = compileFilter({ defaultAction: 'allow', syscalls: [
    { names: ['write'], action: 'errno', errno: 'EACCES', args: [{ index: 0, op: 'eq', value: 1 }] },
    { names: ['write'], action: 'errno', errno: 'EPERM' },
  ] }, { arch: 'x86_64' });
  assert.equal(run(h, 'write', [1n]), 'errno(13)');
  assert.equal(run(h, 'write', [2n]), 'errno(1)');
  assertProgramMatchesPolicy(g);
  assertProgramMatchesPolicy(h);
});

test('errno values are 1..4095 (names or numbers)', () => {
  const ok = compileFilter({ defaultAction: 'errno', defaultErrno: 4095, syscalls: [{ names: ['read'], action: 'errno', errno: 'EAFNOSUPPORT' }] }, { arch: 'x86_64' });
  assert.equal(run(ok, 'read'), 'errno(97)');
  assert.equal(run(ok, 'write'), 'errno(4095)');
  for (const bad of [0, 4096, 65535, -1, 1.5]) {
    assert.throws(() => compileFilter({ defaultAction: 'errno', defaultErrno: bad }, { arch: 'x86_64' }),
      (e: unknown) => isSeccompError(e) && e.code === 'VALUE_RANGE' && e.pointer === '/defaultErrno', String(bad));
  }
  assert.throws(() => compileFilter({ defaultAction: 'errno', defaultErrno: 'ENOTANERRNO' }, { arch: 'x86_64' }),
    (e: unknown) => isSeccompError(e) && e.code === 'UNKNOWN_CONSTANT');
  assert.throws(() => compileFilter({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 4096 }, { arch: 'x86_64' }),
    (e: unknown) => isSeccompError(e) && e.code === 'VALUE_RANGE' && e.pointer === '/defaultErrnoRet');
});

test('a policy too large for the kernel fails with PROGRAM_TOO_LARGE and says what to do', () => {
  const rules: object[] = [];
  for (let i = 0; i < 700; i++) rules.push({ names: ['write'], action: 'allow', args: [{ index: 0, op: 'eq', value: i }, { index: 2, op: 'le', value: i * 3 }] });
  assert.throws(() => compileFilter({ defaultAction: 'errno', syscalls: rules }, { arch: 'x86_64' }),
    (e: unknown) => isSeccompError(e) && e.code === 'PROGRAM_TOO_LARGE' && /at most 4096/.test(e.message));
  // Just below: a large but valid program, with trampolines for the far jumps.
  const f = compileFilter({ defaultAction: 'errno', syscalls: rules.slice(0, 300) }, { arch: 'x86_64' });
  assert.ok(f.insns.length > 1000 && f.insns.length <= 4096);
  assert.deepEqual(validateProgram(f.insns), []);
  assert.equal(run(f, 'write', [299n, 0n, 897n]), 'allow');
  assert.equal(run(f, 'write', [299n, 0n, 898n]), 'errno(1)');
  assert.equal(run(f, 'write', [300n]), 'errno(1)');
});

test('dispatch: neighbours with the same action merge; the search tree is balanced', () => {
  // Allow 0..99 except 50. Ranges: [0,49] [50] [51,99] [100,434] [435 clone3] [436,471] [472,top]:
  // 7 leaves, so 6 tree nodes, plus the x32 check.
  const names: string[] = [];
  for (let nr = 0; nr < 100; nr++) if (nr !== 50) names.push(syscallName('x86_64', nr)!);
  const f = compileFilter({ defaultAction: 'errno', syscalls: [{ names, action: 'allow' }] }, { arch: 'x86_64' });
  const jges = f.insns.filter((i) => i.code === (bpf.BPF_JMP | bpf.BPF_JGE | bpf.BPF_K)).length;
  assert.equal(jges, 7, 'one node per boundary between ranges, plus the x32 check');
  // Depth: a policy with many distinct ranges still reaches every leaf in about log2(ranges) steps.
  const alternating: string[] = [];
  for (let nr = 0; nr < 400; nr += 2) { const n = syscallName('x86_64', nr); if (n) alternating.push(n); }
  const g = compileFilter({ defaultAction: 'errno', syscalls: [{ names: alternating, action: 'allow' }] }, { arch: 'x86_64' });
  const ranges = g.insns.filter((i) => i.code === (bpf.BPF_RET | bpf.BPF_K)).length;
  let maxPath = 0;
  for (let nr = 0; nr < 480; nr++) {
    let pc = 0; let steps = 0;
    for (;;) { // walk the program, counting executed instructions
      const i = g.insns[pc]!; steps++;
      if (i.code === (bpf.BPF_RET | bpf.BPF_K)) break;
      if (i.code === (bpf.BPF_JMP | bpf.BPF_JA)) { pc += 1 + i.k; continue; }
      if ((i.code & 0x07) === bpf.BPF_JMP) {
        const a = i.k === bpf.SECCOMP_DATA_ARCH ? 0 : (pc <= 1 ? AUDIT_ARCH_X86_64 : nr);
        const taken = i.code === (bpf.BPF_JMP | bpf.BPF_JEQ | bpf.BPF_K) ? a === i.k : a >= i.k;
        pc += 1 + (taken ? i.jt : i.jf); continue;
      }
      pc++;
    }
    maxPath = Math.max(maxPath, steps);
  }
  const bound = 5 + Math.ceil(Math.log2(ranges)) + 2; // prologue + tree depth + trampolines
  assert.ok(maxPath <= bound, `longest dispatch path ${maxPath} > ${bound} for ${ranges} leaves`);
  assertProgramMatchesPolicy(g);
});

test('the hash covers profile, arch and context; equal inputs give equal hashes and programs', () => {
  const a = compileSeccomp(allowBasics, { arch: 'x86_64', kernel: '6.1' });
  const b = compileSeccomp(JSON.parse(JSON.stringify(allowBasics)), { arch: 'x86_64', kernel: '6.1' });
  assert.equal(a.hash, b.hash);
  assert.ok(a.program.equals(b.program));
  assert.match(a.hash, /^[0-9a-f]{64}$/);
  assert.equal(a.program.length % 8, 0);
  assert.notEqual(compileSeccomp(allowBasics, { arch: 'aarch64', kernel: '6.1' }).hash, a.hash);
  assert.notEqual(compileSeccomp(allowBasics, { arch: 'x86_64', kernel: '6.2' }).hash, a.hash);
  assert.notEqual(compileSeccomp(allowBasics, { arch: 'x86_64', kernel: '6.1', caps: ['CAP_SYS_ADMIN'] }).hash, a.hash);
  assert.notEqual(compileSeccomp({ ...allowBasics, defaultAction: 'kill_process' }, { arch: 'x86_64', kernel: '6.1' }).hash, a.hash);
});

test('unsupported target arch is an error', () => {
  assert.throws(() => compileSeccomp(allowBasics, { arch: 'riscv64' as TargetArch }), (e: unknown) => isSeccompError(e) && e.code === 'ARCH_UNSUPPORTED');
});
