/**
 * Two sandboxes running at the same time cannot reach each other — TCP on 127.0.0.1 nor abstract unix
 * sockets — and neither can reach the host's loopback services.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { describe, test } from 'node:test';
import { commandFor, modes, sandboxExec } from '../helpers/cli.js';

const LISTENER = `
import socket, sys, time
tcp = socket.socket(); tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("127.0.0.1", PORT)); tcp.listen()
ab = socket.socket(socket.AF_UNIX); ab.bind("\\0NAME"); ab.listen()
# reachable from inside its own sandbox:
c = socket.create_connection(("127.0.0.1", PORT)); c.close()
c = socket.socket(socket.AF_UNIX); c.connect("\\0NAME"); c.close()
print("listening", flush=True)
time.sleep(20)
`;

const CONNECTOR = `
import socket
def tcp(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close(); return "connected"
    except OSError as e: return "refused %d" % e.errno
def abstract(name):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect("\\0" + name); return "connected"
    except OSError as e: return "refused %d" % e.errno
print("tcp", tcp(PORT)); print("abstract", abstract("NAME")); print("host", tcp(HOSTPORT))
`;

function listen(server: Server): Promise<number> {
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)));
}

for (const mode of modes()) {
  describe(`network isolation (${mode.name})`, () => {
    test('a concurrent sandbox and the host are unreachable', async () => {
      const port = 20000 + (process.pid % 20000);
      const name = `sbx-test-${process.pid}-${mode.name}`;
      const host = createServer((s) => s.end('host\n'));
      const hostPort = await listen(host);
      const [cmd, argv] = commandFor(['exec', '--', 'python3', '-c', LISTENER.replace(/PORT/g, String(port)).replace(/NAME/g, name)], mode.user);
      const listener = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
      try {
        let err = '';
        listener.stderr.on('data', (c) => { err += c; });
        await new Promise<void>((resolve, reject) => {
          listener.stdout.on('data', (c) => { if (String(c).includes('listening')) resolve(); });
          listener.on('close', () => reject(new Error(`listener exited early: ${err}`)));
        });
        const r = await sandboxExec(['python3', '-c', CONNECTOR.replace(/HOSTPORT/g, String(hostPort)).replace(/PORT/g, String(port)).replace(/NAME/g, name)], [], { user: mode.user });
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^tcp refused \d+$/m);
        assert.match(r.stdout, /^abstract refused \d+$/m);
        assert.match(r.stdout, /^host refused \d+$/m);
      } finally {
        listener.kill('SIGTERM');
        host.close();
      }
    });
  });
}
