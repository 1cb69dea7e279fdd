/**
 * A pipe read on a thread of the spawn module's (native/spawn.c readPipe), as an emitter of 'data'
 * chunks and a final 'close'; the fd is closed at its end. It reads a spawned launcher's report pipe:
 * - not with a net.Socket: loading Node's net and stream modules cost 6-13 ms of every CLI start on
 *   the dev VM, and `sandbox exec` without --json never needs them otherwise;
 * - not with fs.read, which blocks one of libuv's pool threads for the whole run: the first pool call
 *   of a process starts all four (~2 ms of a start), and only four runs at a time could read so.
 * Every reader has its own thread (64 KB of stack), for as long as its pipe is open.
 */
import { EventEmitter } from 'node:events';
import { closeSync } from 'node:fs';
import type { SpawnModule } from './spawn.js';

export class NativePipeReader extends EventEmitter {
  /** Starts reading `fd` (a blocking pipe, ours from now on) at once, with the spawn module's readPipe. */
  constructor(fd: number, readPipe: SpawnModule['readPipe']) {
    super();
    try {
      readPipe(fd, (chunk) => (chunk === null ? this.emit('close') : this.emit('data', chunk)));
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }
}
