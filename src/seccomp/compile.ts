/**
 * The compiler's top level: profile → FilterIR → BPF program, checked by the validator.
 */
import { type Insn, encodeProgram } from './bpf/insn.js';
import { BPF_MAXINSNS } from './bpf/opcodes.js';
import { validateProgram } from './bpf/validate.js';
import { compilationHash } from './canonical.js';
import { generate } from './compile/codegen.js';
import { SeccompError } from './errors.js';
import { type CompileContext, resolveContext } from './policy/context.js';
import { finalize } from './policy/finalize.js';
import { type FilterIR } from './policy/ir.js';
import { parseProfile, resolveFileReference } from './policy/load.js';
import { archInfo } from './arch.js';

export interface CompileResult {
  /** struct sock_filter[] in host byte order, 8 bytes per instruction. */
  readonly program: Buffer;
  readonly warnings: string[];
  /** sha256 of (generator version, profile, arch, caps, kernel, strict). */
  readonly hash: string;
  /** SECCOMP_FILTER_FLAG_* bits the profile asks for (OCI `flags`); 0 for our format. */
  readonly flags: number;
}

export interface CompiledFilter extends CompileResult {
  readonly insns: Insn[];
  readonly ir: FilterIR;
  /** The profile after resolving a {file} reference. */
  readonly profile: unknown;
}

/** Everything a compilation produces; compileSeccomp returns the public subset. */
export function compileFilter(profile: unknown, ctx: CompileContext): CompiledFilter {
  archInfo(ctx.arch); // throws ARCH_UNSUPPORTED early
  const resolved = resolveContext(ctx);
  const { profile: p } = resolveFileReference(profile, ctx.baseDir);
  const parsed = parseProfile(p, resolved);
  const { ir, warnings } = finalize(parsed);
  const insns = generate(ir);
  if (insns.length > BPF_MAXINSNS) {
    throw new SeccompError(
      'PROGRAM_TOO_LARGE',
      `the compiled filter has ${insns.length} instructions; the kernel accepts at most ${BPF_MAXINSNS}. ` +
        'Merge rules (use groups and fewer argument conditions) or split the policy',
    );
  }
  const errors = validateProgram(insns);
  if (errors.length) {
    // A bug in the generator, never in the profile: refuse rather than hand the kernel a bad program.
    throw new SeccompError('PROGRAM_INVALID', `internal error: generated program is invalid at ${errors[0]!.pc}: ${errors[0]!.message}`);
  }
  return { program: encodeProgram(insns), insns, warnings, hash: compilationHash(p, resolved), flags: ir.flags, ir, profile: p };
}

/**
 * Compiles a seccomp profile (our section format, OCI `linux.seccomp`, or a Docker/moby profile;
 * or `{ "file": "path" }` naming one, relative to ctx.baseDir) to a BPF program for ctx.arch.
 */
export function compileSeccomp(profile: unknown, ctx: CompileContext): CompileResult {
  const r = compileFilter(profile, ctx);
  return { program: r.program, warnings: r.warnings, hash: r.hash, flags: r.flags };
}

/** The hash compileSeccomp would return, without compiling (for cache look-ups). */
export function seccompHash(profile: unknown, ctx: CompileContext): string {
  const { profile: p } = resolveFileReference(profile, ctx.baseDir);
  return compilationHash(p, resolveContext(ctx));
}
