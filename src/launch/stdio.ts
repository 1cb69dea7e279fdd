/**
 * The workload's stdin/stdout/stderr. Passed through untouched ('inherit') when nothing needs to see
 * the bytes; otherwise each stream is a real pipe that the supervisor reads: to capture it ('buffer'),
 * forward it to a stream, and count it against the output limit. When the limit is exceeded the
 * sandbox is killed (status OL) and nothing past the limit is kept.
 *
 * Real pipes, so that `open("/dev/stdout")` works inside as it does in a shell pipeline. Two ways to
 * get them: pipe2 (native/spawn.c) for the zygote's runs, or — when the launcher is spawned, as the
 * CLI does — the launcher makes the output pipes itself and relays them (native/relay.c), enforcing
 * the output limit there: it relays an 'inherit' output straight to the fd this process would have
 * given the workload (its stdout or stderr; none of those bytes pass through Node), and any other
 * output to a pipe this process reads.
 */
import { closeSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { SandboxError } from '../errors.js';
import { pipeSocket } from './pipe-socket.js';
import { kindOf } from './run-spec.js';
import { pipe } from './spawn.js';
import type { KillReason, StdioSlot, Watchdog } from './supervisor.js';
import { clip } from './wire.js';

export type StdinOption = 'inherit' | 'ignore' | string | Buffer | Readable;
export type OutputOption = 'inherit' | 'ignore' | 'buffer' | Writable;

/**
 * The most output a run may capture into this process's memory ('buffer', as `sandbox exec --json`
 * does) when it has no output limit of its own. The sandbox's memory limit does not cover the
 * supervisor: without this, a workload under --memory 32M made it hold 3.3 GB of captured output (and
 * Node's Buffer tops out at 4 GiB). Past it the run ends as OL, as for an output limit.
 */
export const CAPTURE_LIMIT_BYTES = 1 << 30;

/** Counts stdout+stderr bytes; past the limit it keeps nothing more and asks for the kill. */
export class OutputLimiter implements Watchdog {
  private used = 0;
  private kill: ((r: KillReason) => void) | null = null;
  exceeded = false;

  constructor(readonly limit: number | undefined) {}

  start(ctx: { kill(reason: KillReason): void }): void {
    this.kill = ctx.kill;
    if (this.exceeded) ctx.kill('output');
  }

  stop(): void {
    this.kill = null;
  }

  /** The part of `chunk` that still fits. */
  accept(chunk: Buffer): Buffer {
    if (this.limit === undefined) return chunk;
    const room = Math.max(0, this.limit - this.used);
    this.used += chunk.length;
    if (chunk.length <= room) return chunk;
    if (!this.exceeded) {
      this.exceeded = true;
      this.kill?.('output');
    }
    return chunk.subarray(0, room);
  }
}

/**
 * The workload's stdin from a caller's Readable. If that stream fails (a read error, a destroy with an
 * error), the run fails — status XX naming the error (api.ts) — rather than end with a verdict on an
 * input the workload never fully got (a judge would grade a program on a truncated test). The
 * workload gets EOF at once (s.pipe() alone leaves the pipe open when its source fails, and a
 * workload blocked reading it kept the run alive forever) and the sandbox is killed.
 */
class InputFeed implements Watchdog {
  failure: Error | null = null;
  private kill: ((r: KillReason) => void) | null = null;
  private readonly onError = (e: Error) => {
    this.failure ??= e;
    this.writer.end();
    this.kill?.('aborted');
  };

  constructor(private readonly source: Readable, private readonly writer: Writable) {
    source.on('error', this.onError);
    source.pipe(writer);
  }

  start(ctx: { kill(reason: KillReason): void }): void {
    this.kill = ctx.kill;
    if (this.failure) ctx.kill('aborted');
  }

  stop(): void {
    this.kill = null;
  }

  /** after the run: the caller's stream is its own again (a later error is not ours to swallow) */
  detach(): void {
    this.source.off('error', this.onError);
  }
}

const isReadable = (v: unknown): v is Readable => typeof v === 'object' && v !== null && typeof (v as Readable).pipe === 'function' && typeof (v as Readable).on === 'function';
const isWritable = (v: unknown): v is Writable => typeof v === 'object' && v !== null && typeof (v as Writable).write === 'function';
const OUTPUT_NAMES: readonly unknown[] = ['inherit', 'ignore', 'buffer'];

/** stdin/stdout/stderr as JavaScript may pass them: a typo such as 'bufer' was taken for 'inherit'. */
export function checkStdioOptions(o: { stdin?: unknown; stdout?: unknown; stderr?: unknown }): void {
  const s = o.stdin;
  if (s !== undefined && typeof s !== 'string' && !Buffer.isBuffer(s) && !isReadable(s)) {
    throw new SandboxError('USAGE', `stdin must be 'inherit', 'ignore', a string, a Buffer or a Readable, not ${kindOf(s)}`);
  }
  for (const k of ['stdout', 'stderr'] as const) {
    const v = o[k];
    if (v !== undefined && !OUTPUT_NAMES.includes(v) && !isWritable(v)) {
      throw new SandboxError('USAGE', `${k} must be 'inherit', 'ignore', 'buffer' or a Writable, not ${typeof v === 'string' ? `'${clip(v)}'` : kindOf(v)}`);
    }
  }
}

export interface Stdio {
  slots: [StdioSlot, StdioSlot, StdioSlot];
  /** outputs the launcher must relay from pipes of its own (their slots are 'pipe') */
  relay: ('stdout' | 'stderr')[];
  limiter: OutputLimiter;
  /** stdin from a caller's stream (null otherwise): its failure, if it failed */
  input: InputFeed | null;
  /** after spawn: close our copies of the child's pipe ends and start moving data (childStdio: the
   * spawned launcher's stdio streams, for relayed outputs) */
  attach(childStdio?: readonly (Readable | Writable | null | undefined)[]): void;
  /** resolves when every output pipe reached EOF (the sandbox, daemons included, is gone) */
  drained(): Promise<void>;
  stdout: Buffer[];
  stderr: Buffer[];
  /** close whatever is still open (error paths) */
  close(): void;
}

export function openStdio(
  opts: { stdin?: StdinOption; stdout?: OutputOption; stderr?: OutputOption },
  outputLimit: number | undefined,
  inherit: { stdout: Writable; stderr: Writable },
  /** the launcher is spawned (it can relay outputs; see above) */
  spawned = false,
): Stdio {
  const captures = opts.stdout === 'buffer' || opts.stderr === 'buffer';
  const limiter = new OutputLimiter(outputLimit ?? (captures ? CAPTURE_LIMIT_BYTES : undefined));
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const childEnds: number[] = [];
  const ours: Socket[] = [];
  const done: Promise<void>[] = [];
  // an output limit counts every output; the cap on captured output only the captured ones (an
  // inherited output is not made a pipe for it)
  const needsPipe = (o: OutputOption | undefined) => !(o === undefined || o === 'ignore' || o === 'inherit') || (outputLimit !== undefined && o !== 'ignore');
  const relay: ('stdout' | 'stderr')[] = [];
  const relayed = new Map<number, (stream: Readable) => void>();

  const output = (fd: 1 | 2, opt: OutputOption | undefined, sink: Buffer[]): StdioSlot => {
    if (!needsPipe(opt)) return opt === 'ignore' ? 'ignore' : 'inherit';
    const read = (reader: Readable) => {
      const target = opt === 'buffer' ? null : opt && typeof opt === 'object' ? opt : fd === 1 ? inherit.stdout : inherit.stderr;
      reader.on('data', (chunk: Buffer) => {
        const kept = limiter.accept(chunk);
        if (kept.length === 0) return;
        if (target) target.write(kept);
        else sink.push(kept);
      });
    };
    if (spawned) {
      relay.push(fd === 1 ? 'stdout' : 'stderr');
      if (opt === undefined || opt === 'inherit') return 'inherit';
      done.push(new Promise((resolve) => relayed.set(fd, (stream) => {
        read(stream);
        stream.on('close', () => resolve());
      })));
      return 'pipe';
    }
    const [r, w] = pipe();
    childEnds.push(w);
    const reader = pipeSocket(r, 'read');
    ours.push(reader);
    read(reader);
    done.push(new Promise((resolve) => { reader.on('close', () => resolve()); }));
    return w;
  };

  let feed: InputFeed | null = null;
  const input = (): StdioSlot => {
    const s = opts.stdin;
    if (s === undefined || s === 'inherit') return 'inherit';
    if (s === 'ignore') return 'ignore';
    const [r, w] = pipe();
    childEnds.push(r);
    const writer = pipeSocket(w, 'write');
    ours.push(writer);
    writer.on('error', () => { /* the workload may exit without reading its input */ });
    if (typeof s === 'string' || Buffer.isBuffer(s)) writer.end(s);
    else feed = new InputFeed(s, writer);
    return r;
  };

  const slots: [StdioSlot, StdioSlot, StdioSlot] = [input(), output(1, opts.stdout, stdout), output(2, opts.stderr, stderr)];
  return {
    slots,
    relay,
    limiter,
    input: feed,
    stdout,
    stderr,
    attach(childStdio) {
      // The child has its copies now; ours must go, or EOF never comes.
      for (const fd of childEnds.splice(0)) closeSync(fd);
      for (const [fd, connect] of relayed) {
        const stream = childStdio?.[fd];
        if (stream) connect(stream as Readable);
      }
    },
    drained: () => Promise.all(done).then(() => undefined),
    close() {
      for (const fd of childEnds.splice(0)) closeSync(fd);
      for (const s of ours) s.destroy();
      feed?.detach();
    },
  };
}
