/**
 * Compiles the rules of a FilterIR with libseccomp (through helpers/scmp-export.c), so that the
 * two compilers can be compared on the same rules.
 */
import { spawnSync } from 'node:child_process';
import { actionValue, decodeProgram, type FilterIR, type Insn } from '../../../src/seccomp/index.js';
import { buildC } from './native.js';

const OPS: Record<string, number> = { ne: 1, lt: 2, le: 3, eq: 4, ge: 5, gt: 6, masked_eq: 7 };

export function scmpExportBinary(): string {
  return buildC('test/seccomp/helpers/scmp-export.c', ['-lseccomp']);
}

/**
 * The scmp-export input for these rules (the built-in clone3 rule is left out: libseccomp has none).
 * `translate`: also express what libseccomp lacks — any_set(mask) becomes one masked_eq rule per
 * bit (an exact OR), and rules whose action equals the default are dropped (libseccomp refuses
 * them), for benchmarks of "the same policy" built by libseccomp.
 */
export function libseccompSpec(ir: FilterIR, optimize = 2, translate = false): string {
  const lines = [`arch ${ir.arch}`, `default 0x${actionValue(ir.defaultAction).toString(16)}`,
    `badarch 0x${actionValue(ir.badArchAction).toString(16)}`, `optimize ${optimize}`];
  const seen = new Set<string>();
  const def = actionValue(ir.defaultAction);
  const rules = translate ? ir.rules.flatMap((r) => {
    if (actionValue(r.action) === def) return [];
    const i = r.conds.findIndex((c) => c.op === 'any_set');
    if (i < 0) return [r];
    const c = r.conds[i]!;
    const out = [];
    for (let b = 0n; b < 64n; b++) {
      const bit = 1n << b;
      if (c.mask & bit) out.push({ ...r, conds: r.conds.map((x, j) => (j === i ? { ...x, op: 'masked_eq' as const, mask: bit, value: bit } : x)) });
    }
    return out;
  }) : ir.rules;
  for (const r of rules) {
    if (r.source.startsWith('builtin:')) continue;
    const conds = r.conds.map((c) => {
      if (!(c.op in OPS)) throw new Error(`${c.op} has no libseccomp operator`);
      return c.op === 'masked_eq' ? `${c.index} 7 0x${c.mask.toString(16)} 0x${c.value.toString(16)}` : `${c.index} ${OPS[c.op]} 0x${c.value.toString(16)} 0`;
    });
    const line = `rule 0x${actionValue(r.action).toString(16)} ${r.name} ${conds.length} ${conds.join(' ')}`.trimEnd();
    if (seen.has(line)) continue; // the same rule twice (e.g. from two moby includes): libseccomp would say EEXIST
    seen.add(line);
    lines.push(line);
  }
  return lines.join('\n') + '\n';
}

export interface LibseccompResult {
  insns: Insn[];
  program: Buffer;
  /** Names libseccomp does not know (newer than its tables). */
  unknown: string[];
  /** Rules it refused: "name errno". */
  refused: string[];
}

export function compileWithLibseccomp(ir: FilterIR, optimize = 2, translate = false): LibseccompResult {
  const r = spawnSync(scmpExportBinary(), [], { input: libseccompSpec(ir, optimize, translate), maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`scmp-export failed: ${r.stderr.toString()}`);
  const err = r.stderr.toString().split('\n').filter(Boolean);
  return {
    program: r.stdout,
    insns: decodeProgram(r.stdout),
    unknown: err.filter((l) => l.startsWith('unknown ')).map((l) => l.slice(8)),
    refused: err.filter((l) => l.startsWith('rule-error ')).map((l) => l.slice(11)),
  };
}
