/**
 * seccomp return values (include/uapi/linux/seccomp.h) and how the kernel ranks them.
 */

export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_KILL_THREAD = 0x00000000;
export const SECCOMP_RET_TRAP = 0x00030000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_USER_NOTIF = 0x7fc00000;
export const SECCOMP_RET_TRACE = 0x7ff00000;
export const SECCOMP_RET_LOG = 0x7ffc0000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
export const SECCOMP_RET_DATA = 0x0000ffff;

/** The largest errno the kernel returns from SECCOMP_RET_ERRNO (it clamps data to MAX_ERRNO). */
export const MAX_ERRNO = 4095;

export type ActionKind =
  | 'kill_process'
  | 'kill_thread'
  | 'trap'
  | 'errno'
  | 'notify'
  | 'trace'
  | 'log'
  | 'allow';

export const ACTION_KINDS: readonly ActionKind[] = [
  'kill_process', 'kill_thread', 'trap', 'errno', 'notify', 'trace', 'log', 'allow',
];

/** An action with its 16-bit data (errno for `errno`, message for `trace`, si_errno for `trap`). */
export interface Action {
  readonly kind: ActionKind;
  readonly data: number;
}

const BASE: Record<ActionKind, number> = {
  kill_process: SECCOMP_RET_KILL_PROCESS,
  kill_thread: SECCOMP_RET_KILL_THREAD,
  trap: SECCOMP_RET_TRAP,
  errno: SECCOMP_RET_ERRNO,
  notify: SECCOMP_RET_USER_NOTIF,
  trace: SECCOMP_RET_TRACE,
  log: SECCOMP_RET_LOG,
  allow: SECCOMP_RET_ALLOW,
};

export const ALLOW: Action = { kind: 'allow', data: 0 };
export const KILL_PROCESS: Action = { kind: 'kill_process', data: 0 };
export const ENOSYS = 38;
export const EPERM = 1;
export const errnoAction = (errno: number): Action => ({ kind: 'errno', data: errno });

/** The 32-bit value a filter returns for this action. */
export function actionValue(a: Action): number {
  return (BASE[a.kind] | (a.data & SECCOMP_RET_DATA)) >>> 0;
}

/** Decodes a filter's return value. Unknown action bits decode as kill_process, as the kernel treats them. */
export function decodeAction(ret: number): Action {
  const full = (ret & SECCOMP_RET_ACTION_FULL) >>> 0;
  const data = ret & SECCOMP_RET_DATA;
  for (const kind of ACTION_KINDS) {
    if (BASE[kind] === full) return { kind, data: kind === 'kill_process' || kind === 'kill_thread' ? 0 : data };
  }
  // kernel/seccomp.c __seccomp_filter: an unknown action falls into the kill case (the process dies).
  return KILL_PROCESS;
}

/**
 * Restrictiveness rank: lower is more restrictive. The kernel compares ACTION_ONLY(ret) as a
 * *signed* 32-bit value and keeps the smallest (seccomp_run_filters), which yields
 * KILL_PROCESS < KILL_THREAD < TRAP < ERRNO < USER_NOTIF < TRACE < LOG < ALLOW.
 * We use the same order inside one filter so that "the most restrictive matching rule wins".
 */
export function actionRank(a: Action): number {
  return BASE[a.kind] | 0;
}

/** Orders by restrictiveness only; callers sort stably, so among equal ranks the earlier rule wins. */
export function compareActions(a: Action, b: Action): number {
  return actionRank(a) - actionRank(b);
}

export function sameAction(a: Action, b: Action): boolean {
  return a.kind === b.kind && a.data === b.data;
}

export function formatAction(a: Action): string {
  if (a.kind === 'errno') return `errno(${a.data})`;
  if (a.kind === 'trace' || a.kind === 'trap') return a.data ? `${a.kind}(${a.data})` : a.kind;
  return a.kind;
}
