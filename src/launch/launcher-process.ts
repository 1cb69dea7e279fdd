/**
 * What the two ways of starting a launcher (A) share: from this process's zygote (zygote.ts) or
 * spawned for one run (spawn.ts). The supervisor sees either as a LauncherHandle.
 */
import { openSync } from 'node:fs';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { decodeWaitStatus } from './wire.js';

/** Where a launcher's reports arrive: its report pipe's chunks, then 'close' at end of stream (a
 * net.Socket, or a NativePipeReader). */
export interface ReportStream {
  on(event: 'data', cb: (chunk: Buffer) => void): unknown;
  on(event: 'close', cb: () => void): unknown;
}

/** A launcher (A) as the supervisor sees it, however it was started. */
export interface LauncherHandle {
  pid: number | undefined;
  /** a spawned launcher's relayed outputs, by fd (read from them) */
  stdio?: readonly (Readable | Writable | null | undefined)[];
  /** the read end of its report pipe (fd 4) */
  reports: ReportStream;
  /** SIGUSR1: the release of a launcher started with --hold */
  kill(signal: 'SIGTERM' | 'SIGKILL' | 'SIGUSR1'): void;
  onExit(cb: (code: number | null, signal: NodeJS.Signals | null) => void): void;
}

/** The workload's stdio as fds: 'inherit' is ours, 'ignore' is /dev/null. */
export type StdioFd = 'inherit' | 'ignore' | number;

let devNull: number | null = null;

/** The fd a launcher gets for one of the workload's stdio slots (`own`: our fd of that number). */
export function stdioFd(slot: StdioFd, own: number): number {
  if (slot === 'inherit') return own;
  if (slot === 'ignore') return (devNull ??= openSync('/dev/null', 'r+'));
  return slot;
}

/** A launcher's wait status as Node reports a child's exit: a code, or the signal's name. */
export function launcherExit(status: number): { code: number | null; signal: NodeJS.Signals | null } {
  const { code, signal } = decodeWaitStatus(status);
  if (signal === null) return { code, signal: null };
  const name = Object.entries(constants.signals).find(([, n]) => n === signal)?.[0] as NodeJS.Signals | undefined;
  return { code: null, signal: name ?? 'SIGKILL' };
}
