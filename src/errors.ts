/**
 * Errors with stable codes. Callers (the CLI, judge backends using `run()`) switch on `code`,
 * never on the message. The message says what is wrong and what to do.
 */
export type SandboxErrorCode =
  | 'USAGE'                // bad command line
  | 'POLICY_NOT_FOUND'     // --policy names no file and no built-in policy
  | 'POLICY_INVALID'       // schema or semantic error in a policy file
  | 'BIND_SOURCE'          // a --bind source is missing, not canonical, or unsafe
  | 'HOST_UNSUPPORTED'     // the host cannot enforce what the policy requires
  | 'LAUNCHER_MISSING'     // native/build/sandbox-launcher was not built
  | 'INSTALL_INCOMPLETE'   // a file of the built CLI (dist/bin/*.cjs) is missing: a partial build or copy
  | 'LAUNCH_FAILED'        // the native launcher reported a failed step
  | 'LIMIT_UNENFORCEABLE'  // a declared limit has no kernel mechanism here
  | 'CGROUP'               // creating, configuring or removing a cgroup failed
  | 'IMAGE'                // image store / layout / unpack error
  | 'TRUST'                // signature or trust policy refused an image
  | 'SECCOMP'              // seccomp policy could not be compiled
  | 'INTERNAL';            // a bug: please report

export class SandboxError extends Error {
  readonly code: SandboxErrorCode;
  /** Extra machine-readable context (file, JSON pointer, step, errno...). */
  readonly details: Record<string, unknown>;

  constructor(code: SandboxErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'SandboxError';
    this.code = code;
    this.details = details;
  }
}

/** A file of the built package that is not there (a partial build or copy): no bug of ours. */
export function installIncomplete(path: string): SandboxError {
  return new SandboxError('INSTALL_INCOMPLETE', `this installation is incomplete: ${path} is missing; build it again (npm run build)`, { path });
}

/** Exit status of `sandbox` when the sandbox itself failed (docker/podman convention). */
export const EXIT_SANDBOX_FAILURE = 125;
/** The command was found but could not be executed. */
export const EXIT_CANNOT_EXECUTE = 126;
/** The command was not found. */
export const EXIT_NOT_FOUND = 127;

export function isSandboxError(e: unknown): e is SandboxError {
  return e instanceof SandboxError;
}
