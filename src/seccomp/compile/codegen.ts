/**
 * FilterIR → BPF program. Layout:
 *
 *   ld  arch
 *   jeq <native arch>, +1, 0        ; the arch is checked before anything else
 *   ret <bad-arch action>
 *   ld  nr
 *  [jge 0x40000000 → x32 block]     ; x86_64 only
 *   <balanced search tree over number ranges; leaves are `ret` or jumps to argument blocks>
 *  [x32 block: nr == 0xffffffff → allow, else bad-arch action]
 *   <argument blocks, one per syscall with conditional rules>
 *
 * Argument loads live only in the argument blocks, so the path of a syscall decided by number
 * alone uses nothing but `ld nr/arch`, K-jumps and `ret`: the kernel's constant-action cache
 * (Linux >= 5.11) then skips running the filter at all for allowed syscalls.
 */
import { actionValue, ALLOW } from '../actions.js';
import { ARCHES, X32_SYSCALL_BIT } from '../arch.js';
import { Assembler, NEXT } from '../bpf/assembler.js';
import { type Insn } from '../bpf/insn.js';
import { BPF_JEQ, BPF_JGE, SECCOMP_DATA_ARCH, SECCOMP_DATA_NR } from '../bpf/opcodes.js';
import { type FilterIR } from '../policy/ir.js';
import { emitCondition } from './argcmp.js';
import { type ArgPlan, type Range, planRanges } from './plan.js';

export function generate(ir: FilterIR): Insn[] {
  const info = ARCHES[ir.arch];
  const a = new Assembler();

  // 1. Arch first: a compat ABI (i386 `int $0x80`, AArch32) numbers syscalls differently, so every
  //    later comparison would mean another syscall. Anything but the native arch gets badArchAction.
  a.ldAbs(SECCOMP_DATA_ARCH);
  a.jmpK(BPF_JEQ, info.auditArch, 'nr', NEXT);
  a.ret(actionValue(ir.badArchAction));
  a.label('nr').ldAbs(SECCOMP_DATA_NR);

  // 2. x32 (x86_64 only): same audit arch, numbers with bit 30 set select the x32 table. We allow
  //    no x32 syscall (bad-arch action), except 0xffffffff, the "skip" value a tracer may set.
  let top = 0xffffffff;
  if (info.hasX32) {
    a.jmpK(BPF_JGE, X32_SYSCALL_BIT, 'x32', NEXT);
    top = X32_SYSCALL_BIT - 1;
  }

  // 3. Dispatch on the number.
  const ranges = planRanges(ir, top);
  const blocks: ArgPlan[] = [];
  emitTree(a, ranges, blocks);

  if (info.hasX32) {
    a.label('x32').jmpK(BPF_JEQ, 0xffffffff, NEXT, 'x32.bad');
    a.ret(actionValue(ALLOW));
    a.label('x32.bad').ret(actionValue(ir.badArchAction));
  }

  // 4. Argument blocks, off the dispatch path.
  for (const plan of blocks) emitArgBlock(a, plan);
  return a.assemble();
}

/** A balanced binary search: each node splits the ranges in two halves with one `jge`. */
function emitTree(a: Assembler, ranges: readonly Range[], blocks: ArgPlan[]): void {
  if (ranges.length === 1) {
    emitLeaf(a, ranges[0]!, blocks);
    return;
  }
  const mid = ranges.length >> 1;
  const left = ranges.slice(0, mid);
  const right = ranges.slice(mid);
  // A half that is one argument block is jumped to directly (no `ja` on the way).
  const leftDirect = directBlock(left, blocks);
  const rightDirect = directBlock(right, blocks);
  const rightLabel = a.fresh('r');
  a.jmpK(BPF_JGE, right[0]!.lo, rightDirect ?? rightLabel, leftDirect ?? NEXT);
  if (!leftDirect) emitTree(a, left, blocks);
  if (!rightDirect) {
    a.label(rightLabel);
    emitTree(a, right, blocks);
  }
}

function directBlock(sub: readonly Range[], blocks: ArgPlan[]): string | undefined {
  const only = sub[0]!;
  return sub.length === 1 && only.leaf.kind === 'args' ? blockLabel(only.leaf.plan, blocks) : undefined;
}

function emitLeaf(a: Assembler, r: Range, blocks: ArgPlan[]): void {
  if (r.leaf.kind === 'action') a.ret(actionValue(r.leaf.action));
  else a.ja(blockLabel(r.leaf.plan, blocks));
}

function blockLabel(plan: ArgPlan, blocks: ArgPlan[]): string {
  if (!blocks.includes(plan)) blocks.push(plan);
  return `sys.${plan.nr}`;
}

/** Rules in precedence order; the first whose conditions all hold returns its action. */
function emitArgBlock(a: Assembler, plan: ArgPlan): void {
  a.label(`sys.${plan.nr}`);
  const fallback = `sys.${plan.nr}.fallback`;
  plan.rules.forEach((rule, i) => {
    const next = i + 1 < plan.rules.length ? `sys.${plan.nr}.rule${i + 1}` : fallback;
    if (i > 0) a.label(`sys.${plan.nr}.rule${i}`);
    for (const c of rule.conds) emitCondition(a, c, next);
    a.ret(actionValue(rule.action));
  });
  a.label(fallback).ret(actionValue(plan.fallback));
}
