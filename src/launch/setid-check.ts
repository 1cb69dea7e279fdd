/**
 * The check behind setid-guard.ts, in a module of its own: it needs the generator's interpreter and
 * syscall tables, which a run whose answer is already known (in memory or on disk) does not load.
 */
import { decodeAction } from '../seccomp/actions.js';
import { archInfo, type TargetArch } from '../seccomp/arch.js';
import { decodeProgram } from '../seccomp/bpf/insn.js';
import { runFilter } from '../seccomp/bpf/interpreter.js';
import { syscallNumber } from '../seccomp/syscalls.js';

const SETID_MODES = [0o4755n, 0o2000n];
const O_CREAT = 0o100n;
const O_TMPFILE = 0o20200000n;

/** Every syscall that takes a mode for a new or existing inode: [name, index of the mode, index of
 * open flags that must hold O_CREAT or O_TMPFILE for the mode to count, or -1]. */
const MODE_CALLS: [string, number, number][] = [
  ['chmod', 1, -1], ['fchmod', 1, -1], ['fchmodat', 2, -1], ['fchmodat2', 2, -1],
  ['creat', 1, -1], ['open', 2, 1], ['openat', 3, 2],
  ['mkdir', 1, -1], ['mkdirat', 2, -1], ['mknod', 1, -1], ['mknodat', 2, -1],
];

/**
 * Values tried for every other argument: a rule may also test a path pointer, a dirfd or the flags,
 * and its refusal must hold whatever they are (a deny that also requires `arg0 == 0`, which a real
 * pointer never is, refuses nothing). Zero, small numbers, 32-bit edges, pointer-like and all-ones.
 */
const OTHER_VALUES = [0n, 3n, 0xffffffffn, 0x7ffd_1234_5000n, 0xffff_ffff_ffff_ff9cn];
const OPEN_FLAGS = [O_CREAT | 0o1n, O_CREAT | 0o2n | 0o200n, O_TMPFILE | 0o2n, O_CREAT | 0x100000000n];

/**
 * Refused means not executed: errno (with any value, 0 too), trap, kill. `log` runs the call, and so do
 * `trace` and `notify` whenever a tracer or listener lets it (which is not ours to know): executed.
 */
const REFUSED = new Set(['errno', 'trap', 'kill_thread', 'kill_process']);

/** Argument vectors for one call and mode: every other argument at each value, alone and all at once. */
function probes(index: number, flagsIndex: number, mode: bigint): bigint[][] {
  const slots = [0, 1, 2, 3, 4, 5];
  const others = slots.filter((i) => i !== index && i !== flagsIndex);
  const out: bigint[][] = [];
  for (const flags of flagsIndex < 0 ? [0n] : OPEN_FLAGS) {
    const vector = (fill: (i: number) => bigint) => slots.map((i) => (i === index ? mode : i === flagsIndex ? flags : fill(i)));
    for (const v of OTHER_VALUES) {
      out.push(vector(() => v));
      for (const i of others) out.push(vector((j) => (j === i ? v : 0n)));
    }
  }
  return out;
}

/** Whether `program` refuses every setuid/setgid mode bit (runs the filter ~1000 times). */
export function check(program: Buffer, arch: TargetArch): boolean {
  const insns = decodeProgram(program);
  const auditArch = archInfo(arch).auditArch;
  const refused = (nr: number, args: bigint[]) => REFUSED.has(decodeAction(runFilter(insns, { arch: auditArch, nr, args })).kind);
  for (const [name, index, flagsIndex] of MODE_CALLS) {
    const nr = syscallNumber(arch, name);
    if (nr === undefined) continue; // e.g. aarch64 has only the *at variants
    for (const mode of SETID_MODES) {
      for (const args of probes(index, flagsIndex, mode)) if (!refused(nr, args)) return false;
    }
  }
  // Calls whose mode is in memory the filter cannot read must be refused outright: openat2 (its
  // struct open_how), and io_uring, whose OPENAT/OPENAT2/MKDIRAT requests carry a mode in the ring.
  for (const name of ['openat2', 'io_uring_setup']) {
    const nr = syscallNumber(arch, name);
    if (nr !== undefined && !refused(nr, [0n, 0n, 0n, 0n, 0n, 0n])) return false;
  }
  return true;
}
