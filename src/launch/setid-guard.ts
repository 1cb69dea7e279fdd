/**
 * Does a compiled seccomp program refuse setuid/setgid mode bits? Checked on the program itself, with
 * the generator's interpreter — not on the policy text — because it decides whether a writable bind
 * may be idmapped as root (native/idmap.c): through such a bind, files the workload creates belong on
 * the host to the workspace's owner, possibly root, and a setuid bit there would be a privilege for
 * anyone who later runs that file.
 */
// The parts of the generator this needs, not its index: a run need not load the compiler.
import { decodeAction } from '../seccomp/actions.js';
import { archInfo, type TargetArch } from '../seccomp/arch.js';
import { decodeProgram } from '../seccomp/bpf/insn.js';
import { runFilter } from '../seccomp/bpf/interpreter.js';
import { syscallNumber } from '../seccomp/syscalls.js';

const SETID_MODES = [0o4755n, 0o2755n, 0o6755n, 0o4000n, 0o2000n];
const O_CREAT = 0o100n;

/** Every syscall that takes a mode for a new or existing inode: [name, index of the mode, extra args]. */
const MODE_CALLS: [string, number, Record<number, bigint>][] = [
  ['chmod', 1, {}], ['fchmod', 1, {}], ['fchmodat', 2, {}], ['fchmodat2', 2, {}],
  ['creat', 1, {}], ['open', 2, { 1: O_CREAT }], ['openat', 3, { 2: O_CREAT }],
  ['mkdir', 1, {}], ['mkdirat', 2, {}], ['mknod', 1, {}], ['mknodat', 2, {}],
];

/** Answers by program: a process runs the same few programs many times (one check, not one per run). */
const answers = new Map<string, boolean>();

export function filterRefusesSetidBits(program: Buffer, arch: TargetArch): boolean {
  const key = `${arch}:${program.toString('base64')}`;
  let answer = answers.get(key);
  if (answer === undefined) answers.set(key, (answer = check(program, arch)));
  return answer;
}

function check(program: Buffer, arch: TargetArch): boolean {
  const insns = decodeProgram(program);
  const auditArch = archInfo(arch).auditArch;
  const allowed = (nr: number, args: bigint[]) => decodeAction(runFilter(insns, { arch: auditArch, nr, args })).kind === 'allow';
  for (const [name, index, extra] of MODE_CALLS) {
    const nr = syscallNumber(arch, name);
    if (nr === undefined) continue; // e.g. aarch64 has only the *at variants
    for (const mode of SETID_MODES) {
      const args = [0n, 0n, 0n, 0n, 0n, 0n];
      for (const [i, v] of Object.entries(extra)) args[Number(i)] = v;
      args[index] = mode;
      if (allowed(nr, args)) return false;
    }
  }
  // openat2 carries its mode in memory the filter cannot read: it must be refused outright.
  const openat2 = syscallNumber(arch, 'openat2');
  return openat2 === undefined || !allowed(openat2, [0n, 0n, 0n, 0n, 0n, 0n]);
}

