/**
 * A pipe read with fs.read, which blocks one of libuv's pool threads until data or end of stream, as
 * an emitter of 'data' chunks and a final 'close'. For a one-run process (the CLI) it replaces a
 * net.Socket on the launcher's report pipe: Node's net and stream modules are otherwise never loaded
 * by `sandbox exec`, and loading them cost 6-13 ms of every start on the dev VM (bench/README.md).
 *
 * A pool thread is held for the whole run, and the pool is small (4 threads by default) and shared
 * with every fs and dns call of the process: so at most one such reader exists at a time, and a run
 * that finds it taken reads its pipe with a net.Socket (PoolThreadReader.available()).
 */
import { EventEmitter } from 'node:events';
import { closeSync, read } from 'node:fs';

let inUse = false;

export class PoolThreadReader extends EventEmitter {
  private readonly buf = Buffer.alloc(4096);

  /** Whether a new reader may hold a pool thread now. */
  static available(): boolean {
    return !inUse;
  }

  /** Starts reading `fd` (a blocking pipe; closed at end of stream) at once. */
  constructor(private readonly fd: number) {
    super();
    inUse = true;
    this.next();
  }

  private next(): void {
    read(this.fd, this.buf, 0, this.buf.length, null, (err, n) => {
      if (err || n === 0) {
        // a read error on our own pipe cannot happen; treated as its end either way
        closeSync(this.fd);
        inUse = false;
        this.emit('close');
        return;
      }
      this.emit('data', Buffer.from(this.buf.subarray(0, n)));
      this.next();
    });
  }
}
