/**
 * A small classic-BPF assembler with symbolic labels.
 *
 * Conditional jumps have 8-bit offsets (jt/jf <= 255) and may only go forward. When a target is
 * farther, the assembler inserts a trampoline `ja target` (32-bit offset) right after the jump and
 * points the jump at it; insertions can push other jumps out of range, so it repeats until none is.
 */
import { SeccompError } from '../errors.js';
import { type Insn } from './insn.js';
import { BPF_ABS, BPF_ALU, BPF_JA, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W, bpfClass, bpfOp } from './opcodes.js';

/** Where a jump goes: a label name, or NEXT (the instruction that follows). */
export type Target = string | typeof NEXT;
export const NEXT: unique symbol = Symbol('next');

interface Item {
  code: number;
  k: number;
  /** Conditional jumps: labels for true/false. `ja`: jt holds the target. Others: none. */
  jt?: LabelRef;
  jf?: LabelRef;
  /** Labels placed on this instruction (for error messages and listings). */
  names: string[];
}

/** A label resolves to the item it is placed on. */
interface LabelRef {
  name: string;
  item?: Item;
}

const MAX_COND_OFFSET = 255;

export class Assembler {
  private readonly items: Item[] = [];
  private readonly labels = new Map<string, LabelRef>();
  /** Labels waiting for the next emitted instruction. */
  private pending: LabelRef[] = [];
  private anon = 0;

  /** Places `name` on the next instruction emitted. */
  label(name: string): this {
    const ref = this.ref(name);
    if (ref.item || this.pending.includes(ref)) {
      throw new SeccompError('ASSEMBLER', `label ${name} is defined twice`);
    }
    this.pending.push(ref);
    return this;
  }

  /** A fresh label name, unique in this program. */
  fresh(prefix = 'L'): string {
    return `.${prefix}${this.anon++}`;
  }

  /** A = seccomp_data[offset] (32-bit word). */
  ldAbs(offset: number): this {
    return this.emit(BPF_LD | BPF_W | BPF_ABS, offset);
  }

  /** A = A <op> k, for BPF_AND, BPF_OR, ... */
  aluK(op: number, k: number): this {
    return this.emit(BPF_ALU | op | BPF_K, k);
  }

  /** if (A <op> k) goto jt else goto jf; op is BPF_JEQ, BPF_JGT, BPF_JGE or BPF_JSET. */
  jmpK(op: number, k: number, jt: Target, jf: Target): this {
    const code = BPF_JMP | op | BPF_K;
    const item = this.push(code, k);
    item.jt = this.target(jt);
    item.jf = this.target(jf);
    return this;
  }

  /** goto target (unconditional, 32-bit offset). */
  ja(target: string): this {
    const item = this.push(BPF_JMP | BPF_JA, 0);
    item.jt = this.ref(target);
    return this;
  }

  ret(k: number): this {
    return this.emit(BPF_RET | BPF_K, k);
  }

  /** Any instruction without label operands (jumps must use jmpK/ja). */
  emit(code: number, k = 0): this {
    if (bpfClass(code) === BPF_JMP) {
      throw new SeccompError('ASSEMBLER', 'use jmpK()/ja() for jumps so that their targets are labels');
    }
    this.push(code, k);
    return this;
  }

  /** Number of instructions emitted so far (before trampolines). */
  get length(): number {
    return this.items.length;
  }

  /** Resolves labels, inserts trampolines where needed, and returns the program. */
  assemble(): Insn[] {
    if (this.pending.length) {
      throw new SeccompError('ASSEMBLER', `label ${this.pending[0]!.name} is placed after the last instruction`);
    }
    for (const ref of this.labels.values()) {
      if (!ref.item) throw new SeccompError('ASSEMBLER', `label ${ref.name} is used but never placed`);
    }
    const items = this.items.slice();
    for (;;) {
      const index = new Map<Item, number>();
      items.forEach((it, i) => index.set(it, i));
      const far = this.findFarJump(items, index);
      if (!far) return this.lower(items, index);
      this.insertTrampolines(items, far, index);
    }
  }

  private findFarJump(items: Item[], index: Map<Item, number>): number | undefined {
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if (!isCond(it.code)) continue;
      for (const ref of [it.jt!, it.jf!]) {
        const off = index.get(ref.item!)! - i - 1;
        if (off < 0) throw new SeccompError('ASSEMBLER', `jump at ${i} to ${ref.name} goes backwards; BPF jumps only go forward`);
        if (off > MAX_COND_OFFSET) return i;
      }
    }
    return undefined;
  }

  /** Adds `ja` trampolines right after the conditional jump at `at` for each side that is out of range. */
  private insertTrampolines(items: Item[], at: number, index: Map<Item, number>): void {
    const it = items[at]!;
    const tooFar = (ref: LabelRef): boolean => index.get(ref.item!)! - at - 1 > MAX_COND_OFFSET;
    const newItems: Item[] = [];
    const bounce = (ref: LabelRef): LabelRef => {
      const existing = newItems.find((n) => n.jt === ref);
      if (existing) return { name: existing.names[0]!, item: existing };
      const name = this.fresh('tramp');
      const tramp: Item = { code: BPF_JMP | BPF_JA, k: 0, jt: ref, names: [name] };
      newItems.push(tramp);
      return { name, item: tramp };
    };
    if (tooFar(it.jt!)) it.jt = bounce(it.jt!);
    if (tooFar(it.jf!)) it.jf = bounce(it.jf!);
    items.splice(at + 1, 0, ...newItems);
  }

  private lower(items: Item[], index: Map<Item, number>): Insn[] {
    return items.map((it, i) => {
      if (it.code === (BPF_JMP | BPF_JA)) {
        const off = index.get(it.jt!.item!)! - i - 1;
        if (off < 0) throw new SeccompError('ASSEMBLER', `ja at ${i} to ${it.jt!.name} goes backwards`);
        return { code: it.code, jt: 0, jf: 0, k: off };
      }
      if (isCond(it.code)) {
        return {
          code: it.code,
          jt: index.get(it.jt!.item!)! - i - 1,
          jf: index.get(it.jf!.item!)! - i - 1,
          k: it.k >>> 0,
        };
      }
      return { code: it.code, jt: 0, jf: 0, k: it.k >>> 0 };
    });
  }

  private push(code: number, k: number): Item {
    const item: Item = { code, k: k >>> 0, names: [] };
    for (const ref of this.pending) {
      ref.item = item;
      item.names.push(ref.name);
    }
    this.pending = [];
    this.items.push(item);
    return item;
  }

  private target(t: Target): LabelRef {
    if (t !== NEXT) return this.ref(t);
    // NEXT becomes a label on whatever instruction is emitted next, so inserted trampolines keep it right.
    const ref = this.ref(this.fresh('next'));
    this.pending.push(ref);
    return ref;
  }

  private ref(name: string): LabelRef {
    let ref = this.labels.get(name);
    if (!ref) {
      ref = { name };
      this.labels.set(name, ref);
    }
    return ref;
  }
}

function isCond(code: number): boolean {
  return bpfClass(code) === BPF_JMP && bpfOp(code) !== BPF_JA;
}
