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
import { pipeSocket } from './pipe-socket.js';
import { pipe } from './spawn.js';
import type { KillReason, StdioSlot, Watchdog } from './supervisor.js';

export type StdinOption = 'inherit' | 'ignore' | string | Buffer | Readable;
export type OutputOption = 'inherit' | 'ignore' | 'buffer' | Writable;

/** Counts stdout+stderr bytes; past the limit it keeps nothing more and asks for the kill. */
export class OutputLimiter implements Watchdog {
  private used = 0;
  private kill: ((r: KillReason) => void) | null = null;
  exceeded = false;

  constructor(private readonly limit: number | undefined) {}

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

export interface Stdio {
  slots: [StdioSlot, StdioSlot, StdioSlot];
  /** outputs the launcher must relay from pipes of its own (their slots are 'pipe') */
  relay: ('stdout' | 'stderr')[];
  limiter: OutputLimiter;
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
  const limiter = new OutputLimiter(outputLimit);
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const childEnds: number[] = [];
  const ours: Socket[] = [];
  const done: Promise<void>[] = [];
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
    else s.pipe(writer);
    return r;
  };

  const slots: [StdioSlot, StdioSlot, StdioSlot] = [input(), output(1, opts.stdout, stdout), output(2, opts.stderr, stderr)];
  return {
    slots,
    relay,
    limiter,
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
    },
  };
}
