/**
 * Shared by both front-ends: resolves syscall names on the target arch, applies each argument's
 * kernel width to its conditions, numbers the rules, and collects warnings.
 */
import { type Action } from '../actions.js';
import { type TargetArch } from '../arch.js';
import { isArg32 } from '../argwidth.js';
import { SeccompError } from '../errors.js';
import { isKnownSyscallAnywhere, syscallNumber } from '../syscalls.js';
import { type CmpOp, type Condition, type Rule } from './ir.js';
import { narrow32 } from './values.js';

export interface RawCondition {
  readonly index: number;
  readonly op: CmpOp;
  readonly value: bigint;
  readonly mask: bigint;
  readonly pointer: string;
}

export class RuleBuilder {
  readonly rules: Rule[] = [];
  readonly warnings: string[] = [];
  private order = 0;

  constructor(readonly arch: TargetArch, readonly strict: boolean) {}

  warn(msg: string): void {
    if (!this.warnings.includes(msg)) this.warnings.push(msg);
  }

  /**
   * Adds a rule for syscall `name`. Returns false when the name does not exist on the target arch
   * (skipped). `fromGroup`: the name came from an @group, which lists names for every arch.
   */
  add(name: string, action: Action, conds: readonly RawCondition[], pointer: string, fromGroup = false): boolean {
    const nr = syscallNumber(this.arch, name);
    if (nr === undefined) {
      if (!fromGroup && !isKnownSyscallAnywhere(name)) {
        // Unknown everywhere is almost surely a typo: an error under strict, else skipped (runc does the same).
        if (this.strict) throw new SeccompError('UNKNOWN_SYSCALL', `unknown syscall ${JSON.stringify(name)}`, pointer);
        this.warn(`${pointer}: unknown syscall ${JSON.stringify(name)} skipped`);
      }
      return false;
    }
    this.rules.push({
      nr,
      name,
      action,
      conds: conds.map((c) => this.condition(name, c)),
      source: pointer,
      order: this.order++,
      ...(fromGroup ? { fromGroup: true } : {}),
    });
    return true;
  }

  private condition(name: string, c: RawCondition): Condition {
    // Arguments the kernel truncates to 32 bits are compared on their low word only (see argwidth.ts).
    if (isArg32(name, c.index)) {
      const needsMask = c.op === 'masked_eq' || c.op === 'any_set';
      return {
        index: c.index,
        op: c.op,
        value: c.op === 'any_set' ? 0n : narrow32(c.value, c.pointer, 'value'),
        mask: needsMask ? narrow32(c.mask, c.pointer, 'mask') : 0n,
        width: 32,
      };
    }
    return { index: c.index, op: c.op, value: c.value, mask: c.mask, width: 64 };
  }
}
