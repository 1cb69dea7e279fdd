/**
 * Flags that take values. Each time such a flag is given it takes exactly one (yargs' nargs 1): a
 * value left out is a usage error, where yargs otherwise gave '' or kept the default — `--store --json`
 * used the working directory as the store, `--policy -- cmd` ran the default policy.
 * Flags that take one value: given twice, yargs hands the command an array of both (and code that
 * expects a string fails on it); the last one counts instead, as in docker and podman — e.g.
 * `sandbox exec --policy judge` in a script, with `--policy strict` added after it.
 */
import type { Argv } from 'yargs';

export function oneValueEach<T>(y: Argv<T>, flags: string[]): Argv<T> {
  return y.nargs(Object.fromEntries(flags.map((f) => [f, 1])));
}

export function lastValueWins<T>(y: Argv<T>, flags: string[]): Argv<T> {
  return oneValueEach(y.coerce(flags, (v: unknown) => (Array.isArray(v) ? v[v.length - 1] : v)), flags);
}
