/**
 * Lookups over the generated syscall tables (tables/syscalls.generated.ts).
 */
import type { AnyArch } from './arch.js';
import { SYSCALL_TABLES } from './tables/syscalls.generated.js';

export { SYSCALL_TABLE_SOURCE } from './tables/syscalls.generated.js';

const reverse = new Map<AnyArch, Map<number, string>>();

/** The number of `name` on `arch`, or undefined when the syscall does not exist there. */
export function syscallNumber(arch: AnyArch, name: string): number | undefined {
  const table = SYSCALL_TABLES[arch];
  return Object.prototype.hasOwnProperty.call(table, name) ? table[name] : undefined;
}

/** The name of syscall `nr` on `arch`, or undefined. */
export function syscallName(arch: AnyArch, nr: number): string | undefined {
  let m = reverse.get(arch);
  if (!m) {
    m = new Map();
    for (const [name, n] of Object.entries(SYSCALL_TABLES[arch])) m.set(n, name);
    reverse.set(arch, m);
  }
  return m.get(nr >>> 0);
}

/** All syscall names of `arch` (sorted). */
export function syscallNames(arch: AnyArch): string[] {
  return Object.keys(SYSCALL_TABLES[arch]);
}

/** The highest syscall number in `arch`'s table: numbers above it are answered with ENOSYS. */
export function maxSyscallNumber(arch: 'x86_64' | 'aarch64'): number {
  let max = 0;
  for (const n of Object.values(SYSCALL_TABLES[arch])) if (n > max) max = n;
  return max;
}

/** True when `name` is a syscall on any arch we carry (used to tell typos from arch-specific names). */
export function isKnownSyscallAnywhere(name: string): boolean {
  return (Object.keys(SYSCALL_TABLES) as AnyArch[]).some((a) => syscallNumber(a, name) !== undefined);
}
