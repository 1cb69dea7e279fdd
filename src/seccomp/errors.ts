/**
 * The module's own error class (it is self-contained: no imports from the rest of the project).
 * Callers switch on `code`, never on the message. `pointer` is a JSON pointer into the input
 * profile when the error is about one place in it.
 */
export type SeccompErrorCode =
  | 'PROFILE_INVALID'     // the profile does not match our format or the OCI/Docker format
  | 'UNKNOWN_SYSCALL'     // a syscall name is in no table (an error only with `strict`)
  | 'UNKNOWN_GROUP'       // an @group name we do not define
  | 'UNKNOWN_CONSTANT'    // a named constant (TIOCSTI, AF_ALG...) we do not define
  | 'VALUE_RANGE'         // a number outside what the field allows (errno 1..4095, arg index 0..5, 64-bit values)
  | 'ARCH_UNSUPPORTED'    // a target arch other than x86_64/aarch64
  | 'PROGRAM_TOO_LARGE'   // the compiled program exceeds the kernel's 4096 instructions
  | 'PROGRAM_INVALID'     // a BPF program the kernel would reject (validator)
  | 'ASSEMBLER'           // a label is missing or defined twice (a bug in the caller)
  | 'FILE'                // a {file} reference could not be read
  | 'CACHE';              // the program cache directory could not be used

export class SeccompError extends Error {
  readonly code: SeccompErrorCode;
  /** JSON pointer into the profile, when the error is about one place in it ('' = the whole profile). */
  readonly pointer: string | undefined;

  constructor(code: SeccompErrorCode, message: string, pointer?: string) {
    super(pointer !== undefined ? `${pointer || '/'}: ${message}` : message);
    this.name = 'SeccompError';
    this.code = code;
    this.pointer = pointer;
  }
}

export function isSeccompError(e: unknown): e is SeccompError {
  return e instanceof SeccompError;
}
