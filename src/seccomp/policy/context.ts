/**
 * The explicit context a profile is resolved against (moby includes/excludes): target arch,
 * capabilities of the sandboxed process, kernel version.
 */
import { release } from 'node:os';
import { type TargetArch } from '../arch.js';
import { SeccompError } from '../errors.js';

export interface CompileContext {
  readonly arch: TargetArch;
  /** Capabilities the sandboxed process keeps (e.g. ["CAP_NET_RAW"]); default none. */
  readonly caps?: readonly string[];
  /** Kernel version "major.minor[.patch]" for minKernel; default: this host's. */
  readonly kernel?: string;
  /** Unknown syscall names are errors instead of warnings. */
  readonly strict?: boolean;
  /** Directory that a `{ "file": ... }` profile reference is relative to. */
  readonly baseDir?: string;
}

export interface ResolvedContext {
  readonly arch: TargetArch;
  readonly caps: readonly string[];
  readonly kernel: readonly [number, number];
  readonly kernelText: string;
  readonly strict: boolean;
}

export function parseKernelVersion(text: string, pointer = '/kernel'): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(text);
  if (!m) throw new SeccompError('PROFILE_INVALID', `kernel version ${JSON.stringify(text)} is not "major.minor"`, pointer);
  return [Number(m[1]), Number(m[2])];
}

export function resolveContext(ctx: CompileContext): ResolvedContext {
  const kernelText = ctx.kernel ?? release();
  return {
    arch: ctx.arch,
    caps: [...(ctx.caps ?? [])].map((c) => c.toUpperCase()).sort(),
    kernel: parseKernelVersion(kernelText),
    kernelText: kernelText.replace(/^(\d+\.\d+(\.\d+)?).*$/, '$1'),
    strict: ctx.strict ?? false,
  };
}

export function kernelAtLeast(have: readonly [number, number], want: readonly [number, number]): boolean {
  return have[0] !== want[0] ? have[0] > want[0] : have[1] >= want[1];
}
