import { EXIT_SANDBOX_FAILURE, installIncomplete, isSandboxError } from '../errors.js';

/**
 * A bundle of the CLI that is read when first used (scripts/bundle-cli.mjs) and is not there: the
 * installation is partial, which is no bug of ours. (A missing policy validator is said by
 * src/policy/validate.ts, for the library too.)
 */
function missingBundleFile(err: unknown): string | null {
  const e = err as NodeJS.ErrnoException | null;
  if (e?.code !== 'MODULE_NOT_FOUND') return null;
  return /^Cannot find module '\.\/(sandbox-[a-z]+\.cjs)'/.exec(e.message)?.[1] ?? null;
}

/** A command that failed: its one-line reason and stable code on stderr, exit 125. */
export function reportFatal(thrown: unknown): never {
  const missing = missingBundleFile(thrown);
  const err = missing === null ? thrown : installIncomplete(`dist/bin/${missing}`);
  if (isSandboxError(err)) {
    process.stderr.write(`sandbox: ${err.message} [${err.code}]\n`);
  } else {
    const e = err as Error;
    process.stderr.write(`sandbox: internal error: ${e?.stack ?? String(err)}\n`);
  }
  process.exit(EXIT_SANDBOX_FAILURE);
}
