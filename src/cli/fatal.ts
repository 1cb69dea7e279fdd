import { EXIT_SANDBOX_FAILURE, isSandboxError } from '../errors.js';

/** A command that failed: its one-line reason and stable code on stderr, exit 125. */
export function reportFatal(err: unknown): never {
  if (isSandboxError(err)) {
    process.stderr.write(`sandbox: ${err.message} [${err.code}]\n`);
  } else {
    const e = err as Error;
    process.stderr.write(`sandbox: internal error: ${e?.stack ?? String(err)}\n`);
  }
  process.exit(EXIT_SANDBOX_FAILURE);
}
