/**
 * The Result as JSON (`--json`, `--result`). A captured output is a string when it is valid UTF-8 and
 * base64 otherwise, with `stdoutEncoding`/`stderrEncoding: 'base64'` saying so: decoding arbitrary
 * bytes as UTF-8 would turn them into U+FFFD, and a judge comparing outputs must see every byte.
 */
import { constants as bufferConstants, isUtf8 } from 'node:buffer';
import { EXIT_SANDBOX_FAILURE } from '../errors.js';
import type { Result } from '../launch/result.js';

type OutputName = 'stdout' | 'stderr';

function encodedOutput(name: OutputName, bytes: Buffer | undefined): Record<string, string> {
  if (bytes === undefined) return {};
  // Buffer#toString keeps a BOM and every code point of valid UTF-8: the text is the bytes exactly.
  if (isUtf8(bytes)) return { [name]: bytes.toString('utf8') };
  return { [name]: bytes.toString('base64'), [`${name}Encoding`]: 'base64' };
}

/** The Result as pretty-printed JSON with a final newline. Throws when it cannot be one string. */
export function resultJson(r: Result): string {
  const { stdout, stderr, ...rest } = r;
  return `${JSON.stringify({ ...rest, ...encodedOutput('stdout', stdout), ...encodedOutput('stderr', stderr) }, null, 2)}\n`;
}

/** V8's longest string: Buffer#toString throws ERR_STRING_TOO_LONG past it, JSON.stringify a RangeError. */
function isStringTooLong(e: unknown): boolean {
  return e instanceof RangeError || (e as NodeJS.ErrnoException | null)?.code === 'ERR_STRING_TOO_LONG';
}

function tooLargeMessage(r: Result): string {
  const out = r.stdout?.length ?? 0;
  const err = r.stderr?.length ?? 0;
  return `the workload's output is ${out + err} bytes (stdout ${out}, stderr ${err}), too large for a JSON Result `
    + `(as JSON, more than the ${bufferConstants.MAX_STRING_LENGTH} characters a string can hold): set --output-limit, or drop --json`;
}

export interface EncodedResult {
  /** the Result that was encoded: the run's, or (too large) a sandbox failure without the outputs */
  result: Result;
  json: string;
  /** why the run's own Result could not be encoded, or null */
  tooLarge: string | null;
}

/**
 * The run's Result as JSON; when its outputs make it too large for one string, an XX Result that keeps
 * the run's figures (exit code, time, memory) but not the outputs, so `--result`/`--meta`/stdout still
 * tell what happened, and agree with the CLI's exit status 125.
 */
export function encodeResult(r: Result): EncodedResult {
  try {
    return { result: r, json: resultJson(r), tooLarge: null };
  } catch (e) {
    if (!isStringTooLong(e)) throw e;
    const message = tooLargeMessage(r);
    const { stdout: _out, stderr: _err, ...rest } = r;
    const result: Result = { ...rest, status: 'XX', message, exitCode: EXIT_SANDBOX_FAILURE, error: { code: 'USAGE' } };
    return { result, json: resultJson(result), tooLarge: message };
  }
}
