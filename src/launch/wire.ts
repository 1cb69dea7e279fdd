/**
 * Binary encoding of a LaunchPlan for native/sandbox-launcher, and decoding of its reports.
 * The numbers mirror native/launcher.h; test/launch/wire-sync.test.ts checks that they agree.
 *
 * Plan: "SBX1" u32 total-length, then records (u16 tag, u16 0, u32 length, payload), ending with
 * TAG_END. Integers are little-endian (the launcher reads native order; both supported arches are LE).
 */
import { endianness } from 'node:os';
import { SandboxError } from '../errors.js';
import type { LaunchPlan, MountAttr, MountOp, Namespace, RlimitName } from './types.js';

export const PLAN_MAGIC = 0x31584253;

/** The decoder's limits (launcher.h PLAN_MAX_*): a plan past one is refused by checkPlanLimits below. */
export const PLAN_MAX = {
  BYTES: 8 << 20, STRING: 4096, DATA: 1 << 20, ITEMS: 1024, ARG: 131071, ARGS: 1 << 18, HOSTNAME: 64, SECCOMP_INSNS: 4096,
} as const;
/** The longest path the kernel takes: its PATH_MAX (= PLAN_MAX.STRING) counts the terminating NUL. */
export const MAX_PATH_BYTES = PLAN_MAX.STRING - 1;

/** A caller's string in a message: escaped (a NUL or a newline would break the one-line message) and,
 * when long, its beginning only. */
export function clip(s: string): string {
  const text = JSON.stringify(s).slice(1, -1);
  return text.length > 64 ? `${text.slice(0, 60)}…` : text;
}

export const TAG = {
  NAMESPACES: 1, ID_MAP: 3, HOSTNAME: 4, CGROUP_PROCS: 5, BIND_SOURCE: 6, ROOT: 7, MOUNT: 8,
  RLIMIT: 9, ENV: 10, CWD: 11, ARGV: 12, SECCOMP: 13, END: 14, UID_SLOTS: 15, RELAY: 16, CPU_USAGE: 17,
} as const;

export const ROOT_KIND = { TMPFS: 0, IMAGE_RO: 1, IMAGE_OVERLAY: 2 } as const;

export const OP = { tmpfs: 1, bind: 2, proc: 3, dir: 4, file: 5, symlink: 6, rebind: 7 } as const;

export const ATTR: Record<MountAttr, number> = { ro: 1, nosuid: 2, nodev: 4, noexec: 8, ifExists: 16, idmap: 32 };

export const CLONE_FLAGS: Record<Namespace, bigint> = {
  mount: 0x00020000n, cgroup: 0x02000000n, uts: 0x04000000n, ipc: 0x08000000n,
  user: 0x10000000n, pid: 0x20000000n, network: 0x40000000n,
};

export const RLIMIT_RESOURCE: Record<RlimitName, number> = {
  cpu: 0, fsize: 1, data: 2, stack: 3, core: 4, rss: 5, nproc: 6, nofile: 7, memlock: 8, as: 9,
  locks: 10, sigpending: 11, msgqueue: 12, nice: 13, rtprio: 14, rttime: 15,
};

export const STEP = {
  NONE: 0, READ_PLAN: 1, DECODE: 2, BIND_SOURCE: 3, JOIN_CGROUP: 4, IDENTITY: 5, PARENT_DEATH: 6,
  CLONE: 7, SYNC: 8, ID_MAP: 9, HOSTNAME: 10, MOUNT_PRIVATE: 11, ROOT: 12, MOUNT: 13, PIVOT_ROOT: 14,
  ROOT_READONLY: 15, LOOPBACK: 16, FORK: 17, SETSID: 18, RLIMIT: 19, CHDIR: 20, CLOSE_FDS: 21,
  SECUREBITS: 22, CAPS: 23, NO_NEW_PRIVS: 24, SECCOMP: 25, FIND_EXECUTABLE: 26, EXEC: 27, WAIT: 28,
  DUMPABLE: 29, UID_SLOT: 30, RELAY: 31,
} as const;
export type StepName = keyof typeof STEP;

export const DECODE_ERROR = {
  OK: 0, TRUNCATED: 1, BAD_MAGIC: 2, BAD_LENGTH: 3, UNKNOWN_TAG: 4, BAD_RECORD: 5, BAD_STRING: 6,
  TOO_MANY: 7, DUPLICATE: 8, MISSING: 9, BAD_VALUE: 10, BAD_PATH: 11, NO_END: 12,
} as const;

/** A stream's chunks → whole fixed-size records (reports, zygote events), however the bytes were split. */
export function fixedRecords(size: number, onRecord: (record: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= size) {
      onRecord(pending.subarray(0, size));
      pending = pending.subarray(size);
    }
  };
}

/** A wait(2) status (the workload's, or a launcher's): its exit code, or the number of the signal that killed it. */
export function decodeWaitStatus(status: number): { code: number | null; signal: number | null } {
  const sig = status & 0x7f;
  if (sig === 0) return { code: (status >> 8) & 0xff, signal: null };
  return { code: null, signal: sig };
}

export const RELAY = { stdout: 1 << 1, stderr: 1 << 2 } as const;
/** TAG_RELAY's byte limit when there is none */
const RELAY_NO_LIMIT = 0xffffffffffffffffn;

export const REPORT = { ERROR: 1, STARTED: 2, EXIT: 3, RUSAGE: 4, SETUP: 5, UID: 6, OUTPUT: 7, CLOCK: 8, CPU: 9, HELD: 10, CSW: 11 } as const;
export const REPORT_SIZE = 16;

const RLIM_INFINITY = 0xffffffffffffffffn;

/**
 * The plan's bytes, written into one buffer (grown by doubling) instead of a Buffer per integer and
 * string joined at the end: a start of `sandbox exec` allocated ~240 KB for a 7 KB plan that way, a
 * third of the young generation a scavenge is triggered at. Every byte returned is written here
 * (records' reserved fields explicitly), so the buffer needs no zero fill.
 */
class Writer {
  private buf = Buffer.allocUnsafe(16 * 1024);
  // Integers go through a DataView: its setters are V8 builtins, while Buffer's writeUInt*LE are
  // JavaScript with range checks, run cold (interpreted) at a CLI start: ~1 ms of it for a plan.
  private view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  private at = 8; // "SBX1" and the total length, written by finish()

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (this.at + n > size) size *= 2;
    const bigger = Buffer.allocUnsafe(size);
    this.buf.copy(bigger, 0, 0, this.at);
    this.buf = bigger;
    this.view = new DataView(bigger.buffer, bigger.byteOffset, bigger.byteLength);
  }

  /** a record: its header, then what `payload` writes; its length is filled in after */
  record(tag: number, payload: (w: Writer) => void): void {
    this.room(8);
    this.view.setUint16(this.at, tag, true);
    this.view.setUint16(this.at + 2, 0, true);
    const start = this.at + 8;
    this.at = start;
    payload(this);
    this.view.setUint32(start - 4, this.at - start, true);
  }

  /** One integer per call: a rest parameter and its iterator were ~35 KB of young garbage per plan. */
  u32(value: number): this {
    this.room(4);
    this.view.setUint32(this.at, value >>> 0, true);
    this.at += 4;
    return this;
  }

  u64(value: bigint): this {
    // setBigUint64 would wrap silently; Buffer's writer threw, and so does this
    if (value < 0n || value > 0xffffffffffffffffn) throw new RangeError(`${value} does not fit in 64 unsigned bits`);
    this.room(8);
    this.view.setBigUint64(this.at, value, true);
    this.at += 8;
    return this;
  }

  /** a string's UTF-8 bytes, as they are */
  text(s: string): this {
    const n = Buffer.byteLength(s);
    this.room(n);
    this.at += this.buf.write(s, this.at, n, 'utf8');
    return this;
  }

  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
    return this;
  }

  /** u32 byte length, then the string's bytes */
  lenPrefixed(s: string): this {
    return this.u32(Buffer.byteLength(s)).text(s);
  }

  finish(): Buffer {
    this.record(TAG.END, () => {});
    this.view.setUint32(0, PLAN_MAGIC, true);
    this.view.setUint32(4, this.at, true);
    // A copy of exactly the plan: the caller keeps it (a memfd, a pipe write), not our spare room.
    return Buffer.from(this.buf.subarray(0, this.at));
  }
}

function attrBits(attrs: readonly MountAttr[]): number {
  return attrs.reduce((bits, a) => bits | ATTR[a], 0);
}

function limitValue(v: number | 'unlimited'): bigint {
  return v === 'unlimited' ? RLIM_INFINITY : BigInt(Math.floor(v));
}

/** Bind sources are sent once each, in first-use order; mounts refer to them by index. */
export function sourceTable(plan: LaunchPlan): string[] {
  const sources: string[] = [];
  const add = (s: string) => { if (!sources.includes(s)) sources.push(s); };
  if (plan.root.kind === 'image') add(plan.root.source);
  for (const m of plan.mounts) if (m.op === 'bind') add(m.source);
  return sources;
}

function writeMount(w: Writer, m: MountOp, sources: string[]): void {
  const attrs = 'attrs' in m ? attrBits(m.attrs) : 0;
  const src = m.op === 'bind' ? sources.indexOf(m.source) : 0;
  const mode = m.op === 'dir' || m.op === 'file' ? m.mode : 0;
  const data = m.op === 'tmpfs' ? m.options : m.op === 'file' ? m.content : m.op === 'symlink' ? m.linkTo : '';
  w.u32(OP[m.op]).u32(attrs).u32(src).u32(mode).lenPrefixed(m.target).lenPrefixed(data);
}

export function encodePlan(plan: LaunchPlan): Buffer {
  if (endianness() !== 'LE') throw new Error('sandbox supports little-endian hosts only');
  const w = new Writer();
  const flags = plan.namespaces.reduce((f, ns) => f | CLONE_FLAGS[ns], 0n);
  w.record(TAG.NAMESPACES, (r) => r.u64(flags));
  const id = plan.identity;
  w.record(TAG.ID_MAP, (r) => r.u32(id.insideUid).u32(id.insideGid).u32(id.hostUid).u32(id.hostGid));
  w.record(TAG.HOSTNAME, (r) => r.text(plan.hostname));
  for (const p of plan.cgroupProcs) w.record(TAG.CGROUP_PROCS, (r) => r.text(p));
  const sources = sourceTable(plan);
  for (const s of sources) w.record(TAG.BIND_SOURCE, (r) => r.text(s));
  const root = plan.root;
  const kind = root.kind === 'tmpfs' ? ROOT_KIND.TMPFS : root.writable ? ROOT_KIND.IMAGE_OVERLAY : ROOT_KIND.IMAGE_RO;
  const rootSrc = root.kind === 'image' ? sources.indexOf(root.source) : 0;
  w.record(TAG.ROOT, (r) => r.u32(kind).u32(rootSrc).lenPrefixed(root.options));
  for (const m of plan.mounts) w.record(TAG.MOUNT, (r) => writeMount(r, m, sources));
  for (const l of plan.rlimits) {
    w.record(TAG.RLIMIT, (r) => r.u32(RLIMIT_RESOURCE[l.resource]).u64(limitValue(l.soft)).u64(limitValue(l.hard)));
  }
  for (const e of plan.env) w.record(TAG.ENV, (r) => r.text(e));
  w.record(TAG.CWD, (r) => r.text(plan.cwd));
  for (const a of plan.argv) w.record(TAG.ARGV, (r) => r.text(a));
  const seccomp = plan.seccomp;
  if (seccomp) w.record(TAG.SECCOMP, (r) => r.bytes(seccomp.program));
  const slots = plan.uidSlots;
  if (slots) w.record(TAG.UID_SLOTS, (r) => r.u32(slots.first).u32(slots.count).lenPrefixed(slots.lockDir));
  if (plan.relay?.length) {
    const relay = plan.relay.reduce((m, o) => m | RELAY[o], 0);
    const limit = plan.relayLimit === undefined ? RELAY_NO_LIMIT : BigInt(plan.relayLimit);
    w.record(TAG.RELAY, (r) => r.u32(relay).u64(limit));
  }
  const cpuUsage = plan.cpuUsageFile;
  if (cpuUsage !== undefined) w.record(TAG.CPU_USAGE, (r) => r.text(cpuUsage));
  return w.finish();
}

/** A plan string as the decoder takes it: no NUL (C strings end there), at most `max` bytes. */
function planString(s: string, max: number, what: string, allowEmpty = false): number {
  const n = Buffer.byteLength(s);
  if (s.includes('\0')) throw new SandboxError('USAGE', `${what} contains a NUL byte; remove it`);
  if (n > max || (n === 0 && !allowEmpty)) {
    throw new SandboxError('USAGE', `${what} is ${n} bytes; the sandbox accepts ${allowEmpty ? 0 : 1} to ${max}`);
  }
  return n;
}

function planCount(n: number, max: number, what: string): void {
  if (n > max) throw new SandboxError('USAGE', `${what}: ${n}; the sandbox accepts at most ${max}`);
}

/** A record's encoded size: its 8-byte header and the payload. */
const rec = (payload: number) => 8 + payload;

/** A mount record's payload size (encodeMount's layout), its strings checked on the way. */
function mountSize(m: MountOp): number {
  const what = `mount at ${clip(m.target)}`;
  let data = 0;
  if (m.op === 'tmpfs') data = planString(m.options, PLAN_MAX.STRING, `${what}: its tmpfs options`, true);
  else if (m.op === 'symlink') data = planString(m.linkTo, PLAN_MAX.STRING, `${what}: its symlink target`);
  else if (m.op === 'file') data = planString(m.content, PLAN_MAX.DATA, `${what}: its file content`, true);
  return 16 + 4 + planString(m.target, PLAN_MAX.STRING, `${what}: the target`) + 4 + data;
}

/** The records of the filesystem: cgroup files, bind sources, the root, the mounts. */
function filesystemSize(plan: LaunchPlan): number {
  let size = 0;
  planCount(plan.cgroupProcs.length, PLAN_MAX.ITEMS, 'cgroup files');
  for (const p of plan.cgroupProcs) size += rec(planString(p, PLAN_MAX.STRING, `cgroup file ${clip(p)}`));
  const sources = sourceTable(plan);
  planCount(sources.length, PLAN_MAX.ITEMS, 'distinct bind sources');
  for (const s of sources) size += rec(planString(s, PLAN_MAX.STRING, `bind source ${clip(s)}`));
  size += rec(8 + 4 + planString(plan.root.options, PLAN_MAX.STRING, 'the root\'s options', true));
  planCount(plan.mounts.length, PLAN_MAX.ITEMS, 'mounts (the sandbox\'s own, the policy\'s and the caller\'s binds and tmpfs)');
  for (const m of plan.mounts) size += rec(mountSize(m));
  return size;
}

/** The records of the workload's process: rlimits, environment, working directory, argv, seccomp. */
function processSize(plan: LaunchPlan): number {
  planCount(plan.rlimits.length, PLAN_MAX.ITEMS, 'rlimits');
  let size = plan.rlimits.length * rec(20);
  planCount(plan.env.length, PLAN_MAX.ARGS, 'environment variables');
  for (const e of plan.env) size += rec(planString(e, PLAN_MAX.ARG, `environment variable ${clip(e.slice(0, e.indexOf('=')))}`));
  size += rec(planString(plan.cwd, PLAN_MAX.STRING, 'the working directory'));
  planCount(plan.argv.length, PLAN_MAX.ARGS, 'command arguments');
  plan.argv.forEach((a, i) => { size += rec(planString(a, PLAN_MAX.ARG, `command argument ${i}`, true)); });
  if (plan.seccomp) {
    planCount(plan.seccomp.program.length / 8, PLAN_MAX.SECCOMP_INSNS, 'seccomp instructions');
    size += rec(plan.seccomp.program.length);
  }
  return size;
}

/**
 * Every limit of the launcher's decoder (native/decode.c), checked on the plan before the launch: a
 * plan past one is refused there as malformed, which would read as a bug of ours. The options a caller
 * gives are checked first where they are read, with the option's name (binds.ts, run-spec.ts); this
 * catches what comes from elsewhere (a policy, an image) and the plan's total size. Sums the encoded
 * size without encoding (encodePlan costs ~0.1-0.2 ms; plans are built twice a run) and returns it;
 * test/unit/wire.test.ts and test/launch/plan-limits.test.ts check it against encodePlan.
 */
export function checkPlanLimits(plan: LaunchPlan): number {
  // magic and length, NAMESPACES, ID_MAP, HOSTNAME
  let size = 8 + rec(8) + rec(16) + rec(planString(plan.hostname, PLAN_MAX.HOSTNAME, 'the hostname'));
  size += filesystemSize(plan) + processSize(plan);
  if (plan.uidSlots) size += rec(8 + 4 + planString(plan.uidSlots.lockDir, PLAN_MAX.STRING, 'the uid slot directory'));
  if (plan.relay?.length) size += rec(12);
  if (plan.cpuUsageFile !== undefined) size += rec(planString(plan.cpuUsageFile, PLAN_MAX.STRING, 'the cgroup CPU counter'));
  size += rec(0); // TAG_END
  // The supervisor may add the output relay's record to the plan after this check.
  if (size + (plan.relay?.length ? 0 : rec(12)) > PLAN_MAX.BYTES) {
    throw new SandboxError('USAGE', `the launch plan is ${size} bytes (arguments, environment and mounts together); the sandbox accepts at most ${PLAN_MAX.BYTES}: pass large data through a file or stdin`);
  }
  return size;
}

export type LauncherReport =
  | { type: 'error'; step: StepName; errno: number; index: number }
  | { type: 'started'; initPid: number }
  | { type: 'exit'; waitStatus: number }
  /** of every process init reaped: max RSS (KiB) and user+system CPU (µs) */
  | { type: 'rusage'; maxRssKiB: number; cpuUs: number }
  /** of the same processes: voluntary and involuntary context switches */
  | { type: 'csw'; voluntary: number; involuntary: number }
  /** CPU the launcher's own process `who` (1 = outer, 2 = init) spent on setup; init's marks the workload's start */
  | { type: 'setup'; who: number; cpuUs: number }
  /** the host uid the launcher took from the plan's uid slots */
  | { type: 'uid'; hostUid: number }
  /** a relayed output (fd) went past the relay's limit; the launcher has killed the sandbox */
  | { type: 'output'; fd: number }
  /** init's CLOCK_MONOTONIC (ns) as it forked the workload ('start') or reaped it ('end') */
  | { type: 'clock'; which: 'start' | 'end'; ns: bigint }
  /** the run cgroup's CPU time (ns), read by init as it reaped the workload */
  | { type: 'cpu'; ns: bigint }
  /** (a launcher started with --hold) the sandbox has ended; the launcher waits for SIGUSR1 to exit */
  | { type: 'held' };

const STEP_NAMES = new Map<number, StepName>(Object.entries(STEP).map(([k, v]) => [v, k as StepName]));

/** A 64-bit value a report carries as its err (high half, read unsigned) and index (low half) fields. */
const u64Of = (high: number, low: number): bigint => (BigInt(high >>> 0) << 32n) | BigInt(low);

export function decodeReport(b: Buffer): LauncherReport {
  const type = b.readUInt32LE(0);
  const step = b.readUInt32LE(4);
  const err = b.readInt32LE(8);
  const index = b.readUInt32LE(12);
  switch (type) {
    case REPORT.STARTED: return { type: 'started', initPid: index };
    case REPORT.EXIT: return { type: 'exit', waitStatus: err };
    case REPORT.RUSAGE: return { type: 'rusage', maxRssKiB: err, cpuUs: Number(u64Of(step, index)) };
    case REPORT.CSW: return { type: 'csw', voluntary: err >>> 0, involuntary: index };
    case REPORT.SETUP: return { type: 'setup', who: step, cpuUs: index };
    case REPORT.UID: return { type: 'uid', hostUid: index };
    case REPORT.OUTPUT: return { type: 'output', fd: index };
    case REPORT.CPU: return { type: 'cpu', ns: u64Of(err, index) };
    case REPORT.CLOCK: return { type: 'clock', which: step === 1 ? 'start' : 'end', ns: u64Of(err, index) };
    case REPORT.HELD: return { type: 'held' };
    default: return { type: 'error', step: STEP_NAMES.get(step) ?? 'NONE', errno: err, index };
  }
}

/* The zygote's records (launcher.h: struct zygote_record, both directions): u32 type, u32 run id, i32 value, u32 0. */
export const ZYGOTE_RUN_FDS = 5;
export const ZYGOTE_OP = { RUN: 1, SIGNAL: 2 } as const;
export const ZYGOTE_EVENT = { FORKED: 1, EXITED: 2, REFUSED: 3 } as const;
export const ZYGOTE_RECORD_SIZE = 16;

export function encodeZygoteRequest(op: number, runId: number, value = 0): Buffer {
  const b = Buffer.alloc(ZYGOTE_RECORD_SIZE);
  b.writeUInt32LE(op, 0);
  b.writeUInt32LE(runId >>> 0, 4);
  b.writeInt32LE(value, 8);
  return b;
}

export interface ZygoteEvent { type: number; runId: number; value: number }

export function decodeZygoteEvent(b: Buffer): ZygoteEvent {
  return { type: b.readUInt32LE(0), runId: b.readUInt32LE(4), value: b.readInt32LE(8) };
}
