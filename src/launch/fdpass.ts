/**
 * Sending a message with file descriptors attached (SCM_RIGHTS) on a unix socket, which Node cannot do
 * for arbitrary fds: through native/build/libsandbox-fdpass.so (native/fdpass.c), loaded with koffi.
 */
import koffi from 'koffi';
import { resolve } from 'node:path';
import { SandboxError } from '../errors.js';
import { packageRoot } from '../policy/paths.js';

type SendFds = (sock: number, data: Buffer, len: number, fds: Int32Array, nFds: number) => number;

let sendFds: SendFds | null = null;

function load(): SendFds {
  if (sendFds) return sendFds;
  const path = resolve(packageRoot(), 'native/build/libsandbox-fdpass.so');
  try {
    sendFds = koffi.load(path).func('int sandbox_send_fds(int sock, const uint8_t *data, size_t len, const int *fds, int n_fds)') as SendFds;
  } catch (e) {
    throw new SandboxError('LAUNCHER_MISSING', `cannot load ${path} (${(e as Error).message}); run \`npm run build:native\``);
  }
  return sendFds;
}

/** Send `data` with `fds` in one message, without blocking. Returns 0, or -errno (e.g. -32 EPIPE: the peer is gone). */
export function sendWithFds(sock: number, data: Buffer, fds: readonly number[] = []): number {
  return load()(sock, data, data.length, Int32Array.from(fds), fds.length);
}
