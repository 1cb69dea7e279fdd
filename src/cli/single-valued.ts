/**
 * Flags that take one value. Given twice, yargs hands the command an array of both (and code that
 * expects a string fails on it); the last one counts instead, as in docker and podman — e.g.
 * `sandbox exec --policy judge` in a script, with `--policy strict` added after it.
 */
import type { Argv } from 'yargs';

export function lastValueWins<T>(y: Argv<T>, flags: string[]): Argv<T> {
  return y.coerce(flags, (v: unknown) => (Array.isArray(v) ? v[v.length - 1] : v));
}
