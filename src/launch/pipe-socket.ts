/**
 * One end of a pipe as a net.Socket (Node reads and writes pipes on its event loop only through net).
 * node:net is required on first use, not imported: with the stream modules it pulls in, loading it
 * costs 6-13 ms of a CLI start on the dev VM, and `sandbox exec` without --json never needs it
 * (native-pipe-reader.ts reads its report pipe).
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

const load = createRequire(import.meta.url);

export function pipeSocket(fd: number, direction: 'read' | 'write'): Socket {
  const { Socket: NetSocket } = load('node:net') as typeof import('node:net');
  return new NetSocket({ fd, readable: direction === 'read', writable: direction === 'write' });
}
