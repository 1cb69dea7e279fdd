/**
 * seccomp-bpf-ts: compiles seccomp policies (our section format, OCI `linux.seccomp`, Docker/moby
 * profiles) to classic BPF programs for x86_64 and aarch64, without libseccomp.
 * Self-contained: imports nothing from the rest of the project.
 */
export { compileSeccomp, compileFilter, seccompHash, type CompileResult, type CompiledFilter } from './compile.js';
export { compileSeccompCached } from './cache.js';
export { type CompileContext } from './policy/context.js';
export { SeccompError, isSeccompError, type SeccompErrorCode } from './errors.js';
export { hostArch, archInfo, ARCHES, type TargetArch, type AnyArch, AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, AUDIT_ARCH_AARCH64, AUDIT_ARCH_ARM, X32_SYSCALL_BIT } from './arch.js';
export {
  type Action, type ActionKind, actionValue, decodeAction, formatAction, actionRank,
  SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_LOG,
  SECCOMP_RET_TRACE, SECCOMP_RET_TRAP, SECCOMP_RET_USER_NOTIF,
} from './actions.js';
export { type Insn, insn, encodeProgram, decodeProgram } from './bpf/insn.js';
export { Assembler, NEXT, type Target } from './bpf/assembler.js';
export { validateProgram, isValidProgram, type ValidationError } from './bpf/validate.js';
export { disassemble, type DisassembleOptions } from './bpf/disassembler.js';
export { runFilter, traceFilter, isConstantAllow, seccompDataBytes, type SeccompData } from './bpf/interpreter.js';
export * as bpf from './bpf/opcodes.js';
export { syscallNumber, syscallName, syscallNames, maxSyscallNumber, SYSCALL_TABLE_SOURCE } from './syscalls.js';
export { GROUPS, groupMembers } from './groups.js';
export { CONSTANTS, ERRNO } from './constants.js';
export { lintFilter, type LintFinding } from './lint.js';
export { explainCall, type Explanation } from './explain.js';
export { parseJsonLossless, type JsonValue } from './json.js';
export { detectFormat, isFileReference, resolveFileReference, type ProfileFormat } from './policy/load.js';
export { decide, type FilterIR, type Rule, type Condition, type Decision } from './policy/ir.js';
export { SECCOMP_SECTION_SCHEMA } from './schema.js';
export { parseConstantExpression } from './constants.js';
