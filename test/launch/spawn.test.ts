/**
 * native/spawn.c (posix_spawn for one-run processes) and src/launch/spawn.ts on top of it: the child
 * gets exactly the fds it is given, at the numbers it is given, even when they overlap its targets;
 * it starts with no signal blocked or ignored (Node ignores SIGPIPE); bad arguments and failed execs
 * are errors with the errno's name; and a launcher that cannot start leaves no fd behind.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ROOT } from '../helpers/cli.js';
import { run } from '../../src/api.js';
import { SandboxError } from '../../src/errors.js';
import { NativePipeReader } from '../../src/launch/native-pipe-reader.js';
import { spawnLauncherProcess, spawnModule } from '../../src/launch/spawn.js';

/** Everything the child writes to the pipe it got, and its wait status. */
function runChild(argv: string[], fdsFor: (pipeWrite: number) => number[]): { out: string; status: number } {
  const native = spawnModule();
  const [r, w] = native.pipe();
  let pid: number;
  try {
    pid = native.spawn(argv[0]!, argv, ['PATH=/usr/bin:/bin'], fdsFor(w));
  } finally {
    closeSync(w);
  }
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(4096);
  for (;;) {
    const n = readSync(r, buf); // a blocking pipe: 0 at end of stream
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  closeSync(r);
  return { out: Buffer.concat(chunks).toString(), status: native.wait(pid) };
}

const openFds = () => readdirSync('/proc/self/fd').length;

describe('native spawn', () => {
  test('the child has exactly the fds it was given, 0..n-1', () => {
    const devNull = openSync('/dev/null', 'r');
    try {
      const { out, status } = runChild(['/bin/sh', '-c', 'ls /proc/$$/fd >&1'], (w) => [devNull, w, w]);
      assert.equal(status, 0);
      assert.deepEqual(out.trim().split(/\s+/).sort(), ['0', '1', '2']);
    } finally {
      closeSync(devNull);
    }
  });

  test('an fd that is also a lower target is copied before it is overwritten', () => {
    // child fd 0 ← the pipe, child fd 1 ← our fd 0: done naively in order, fd 1 would get the pipe too.
    const ourStdin = readlinkSync('/proc/self/fd/0');
    // (the shell's own fd 1, read from a command substitution: `cmd >&0` would redirect cmd's)
    const { out, status } = runChild(['/bin/sh', '-c', 'x=$(readlink /proc/$$/fd/1); echo "$x" >&0'], (w) => [w, 0, 2]);
    assert.equal(status, 0);
    assert.equal(out.trim(), ourStdin);
    assert.doesNotMatch(out, /^pipe:/);
  });

  test("no signal is blocked in the child, and Node's ignored SIGPIPE is not inherited", () => {
    const { out } = runChild(['/bin/cat', '/proc/self/status'], (w) => [0, w, 2]);
    assert.match(out, /^SigBlk:\s+0+$/m);
    // Only glibc's two internal signals (32, 33) may be ignored: its posix_spawn does that on purpose,
    // and the launcher resets them for the workload (the isolation tests check SigIgn inside).
    const ignored = BigInt(`0x${/^SigIgn:\s+([0-9a-f]+)$/m.exec(out)![1]}`);
    assert.equal(ignored & ~((1n << 31n) | (1n << 32n)), 0n, `SigIgn ${ignored.toString(16)}`);
  });

  test('only the environment it is given', () => {
    const { out } = runChild(['/usr/bin/env'], (w) => [0, w, 2]);
    assert.equal(out, 'PATH=/usr/bin:/bin\n');
  });

  test('wait returns the raw wait status', () => {
    assert.equal(runChild(['/bin/sh', '-c', 'exit 3'], (w) => [0, w, 2]).status, 3 << 8);
    assert.equal(runChild(['/bin/sh', '-c', 'kill -TERM $$'], (w) => [0, w, 2]).status & 0x7f, 15);
  });

  test('bad arguments and failed execs are errors with the errno name', () => {
    const native = spawnModule();
    assert.throws(() => native.spawn('sh', ['sh'], [], [0, 1, 2]), { code: 'EINVAL' }); // not absolute
    assert.throws(() => native.spawn('/bin/sh', [], [], [0, 1, 2]), { code: 'EINVAL' }); // no argv[0]
    assert.throws(() => native.spawn('/bin/sh', ['sh', 1 as unknown as string], [], [0]), { code: 'EINVAL' });
    assert.throws(() => native.spawn('/bin/sh', ['sh'], [], [-1]), { code: 'EINVAL' });
    assert.throws(() => native.spawn('/bin/sh', ['sh'], [], new Array(17).fill(0)), { code: 'EINVAL' });
    assert.throws(() => native.spawn('/bin/s\u0000h', ['sh'], [], [0]), { code: 'EINVAL' });
    assert.throws(() => native.spawn('/nonexistent/program', ['x'], [], [0, 1, 2]), { code: 'ENOENT', message: /\/nonexistent\/program/ });
    assert.throws(() => native.spawn('/bin/sh', ['sh'], [], [999]), { code: 'EBADF' });
    assert.throws(() => native.wait(0), { code: 'EINVAL' });
    assert.throws(() => native.wait(1), { code: 'ECHILD' });
  });

  test('mapText and mapBytes: the file as it is, every byte; a write to the buffer stays in this process', () => {
    const native = spawnModule();
    const dir = mkdtempSync(join(tmpdir(), 'sbx-map-'));
    try {
      const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7 + 1) % 256)); // past one page, all 256 values
      const file = join(dir, 'f');
      writeFileSync(file, bytes);
      assert.equal(native.mapText(file), bytes.toString('latin1'));
      const mapped = native.mapBytes(file);
      assert.ok(mapped.equals(bytes));
      mapped[0] = mapped[0]! ^ 0xff; // MAP_PRIVATE: copy on write, never the file
      assert.ok(readFileSync(file).equals(bytes));
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  test('mapText and mapBytes: a missing file, a directory, an empty file or no path is an error with its code', () => {
    const native = spawnModule();
    const dir = mkdtempSync(join(tmpdir(), 'sbx-map-'));
    try {
      writeFileSync(join(dir, 'empty'), '');
      const fds = openFds();
      for (const map of [native.mapText, native.mapBytes]) {
        assert.throws(() => map(join(dir, 'missing')), { code: 'ENOENT', message: /open/ });
        assert.throws(() => map(dir), { code: 'EINVAL' });
        assert.throws(() => map(join(dir, 'empty')), { code: 'EINVAL' });
        assert.throws(() => (map as (p?: unknown) => unknown)(), { code: 'EINVAL' });
      }
      assert.equal(openFds(), fds); // the failed ones closed what they opened
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('spawnLauncherProcess', () => {
  test('a launcher that cannot start: LAUNCH_FAILED, no fd left open', () => {
    const before = openFds();
    assert.throws(
      () => spawnLauncherProcess(['/nonexistent/sandbox-launcher'], [], ['inherit', 'pipe', 'pipe'], null),
      (e: unknown) => e instanceof SandboxError && e.code === 'LAUNCH_FAILED' && /nonexistent/.test(e.message),
    );
    assert.equal(openFds(), before);
  });

  test('run() with a spawned launcher reaps it: no zombie, no fd left open', async () => {
    const before = openFds();
    const r = await run({ policy: 'strict', command: ['/bin/echo', 'hi'], stdout: 'buffer', launcher: 'spawn' });
    assert.equal(r.status, 'OK');
    assert.equal(r.stdout?.toString(), 'hi\n');
    assert.equal(openFds(), before);
    const children = readFileSync(`/proc/self/task/${process.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    for (const pid of children) {
      assert.notEqual(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0], 'Z', `child ${pid} is a zombie`);
    }
  });
});

describe('NativePipeReader', () => {
  test('chunks in order, then close; the fd is closed', async () => {
    const [r, w] = spawnModule().pipe();
    const reader = new NativePipeReader(r, spawnModule().readPipe);
    const chunks: Buffer[] = [];
    reader.on('data', (c: Buffer) => chunks.push(c));
    const closed = new Promise<void>((resolve) => reader.on('close', resolve));
    const payload = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 251));
    writeSync(w, payload.subarray(0, 5000));
    await new Promise((resolve) => setTimeout(resolve, 20));
    // more than the reader's queue holds (16 chunks of 4 KB) while the loop is busy: it waits, drops nothing
    for (let off = 5000; off < payload.length;) off += writeSync(w, payload, off, Math.min(8192, payload.length - off));
    closeSync(w);
    await closed;
    assert.deepEqual(Buffer.concat(chunks), payload);
    assert.equal(existsSync(`/proc/self/fd/${r}`), false, 'its fd is closed');
  });

  test('not a function, not an fd: a clear error', () => {
    const [r, w] = spawnModule().pipe();
    assert.throws(() => spawnModule().readPipe(r, 'x' as never), /readPipe\(fd, onChunk\)/);
    assert.throws(() => spawnModule().readPipe(-1, () => {}), /readPipe\(fd, onChunk\)/);
    closeSync(r);
    closeSync(w);
  });

  test('a process that reads its report pipe so starts no libuv pool thread', () => {
    // A fresh CommonJS process (the ES module loader reads files through the pool) counts its threads
    // before the read, at its end, and after one fs call: the control, as the pool's first use starts
    // its threads (fs.read had started them for the report pipe).
    const script = `const { readdirSync, stat, writeSync, closeSync } = require('node:fs');
      const m = { exports: {} };
      process.dlopen(m, ${JSON.stringify(join(ROOT, 'native/build/sandbox-spawn.node'))});
      const threads = () => readdirSync('/proc/self/task').length;
      const [r, w] = m.exports.pipe();
      const before = threads();
      let got = 0;
      m.exports.readPipe(r, (chunk) => {
        if (chunk) { got += chunk.length; return; }
        const atEnd = threads();
        stat('/', () => console.log(JSON.stringify({ got, before, atEnd, afterPoolCall: threads() })));
      });
      writeSync(w, 'x'.repeat(10));
      closeSync(w);`;
    const env = { ...process.env };
    delete env['UV_THREADPOOL_SIZE'];
    const out = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env });
    assert.equal(out.status, 0, out.stderr);
    const { got, before, atEnd, afterPoolCall } = JSON.parse(out.stdout) as Record<string, number>;
    assert.equal(got, 10);
    // the reader's own thread may not have exited yet when the end is delivered
    assert.ok(atEnd! - before! <= 1, `${atEnd! - before!} threads more at the end of the read`);
    assert.ok(afterPoolCall! - atEnd! >= 2, `the control: an fs call started ${afterPoolCall! - atEnd!} threads`);
  });

  /** Runs `script` (an ES module) in a plain `node`; with `nodeArgs`, in one given those options. */
  function runModule(script: string, nodeArgs: string[] = []): { stdout: string; stderr: string; status: number | null; dir: string } {
    const dir = mkdtempSync(join(tmpdir(), 'sbx-exit-now-'));
    const file = join(dir, 'exit-now.mjs');
    writeFileSync(file, script);
    const env = { ...process.env };
    delete env['NODE_OPTIONS'];
    delete env['NODE_V8_COVERAGE'];
    const out = spawnSync(process.execPath, [...nodeArgs, file], { encoding: 'utf8', timeout: 30_000, env, cwd: dir });
    return { stdout: out.stdout, stderr: out.stderr, status: out.status, dir };
  }

  const exitNowScript = (load: boolean) => `import { exitNow, spawnModule } from ${JSON.stringify(join(ROOT, 'dist/src/launch/spawn.js'))};
    if (${load}) spawnModule();
    process.on('exit', (code) => process.stdout.write('exit listener ' + code + '\\n'));
    setTimeout(() => console.log('the timer ran'), 60_000);
    process.exitCode = 42;
    exitNow();
    console.log('exitNow returned');`;

  for (const loaded of [true, false]) {
    test(`exitNow (${loaded ? 'the module loaded: _exit' : 'not loaded: process.exit'}): the 'exit' listeners run, the status is process.exitCode, nothing pending waits`, () => {
      const out = runModule(exitNowScript(loaded));
      rmSync(out.dir, { recursive: true, force: true });
      assert.equal(out.stderr, '');
      assert.equal(out.stdout, 'exit listener 42\n');
      assert.equal(out.status, 42);
    });
  }

  test('exitNow under a Node option that works at the exit (--cpu-prof): Node\'s own exit, so the profile is written', () => {
    const out = runModule(exitNowScript(true), ['--cpu-prof']);
    const profiles = readdirSync(out.dir).filter((f) => f.endsWith('.cpuprofile'));
    rmSync(out.dir, { recursive: true, force: true });
    assert.equal(out.stdout, 'exit listener 42\n');
    assert.equal(out.status, 42);
    assert.equal(profiles.length, 1, 'one CPU profile written');
  });

  test('concurrent spawned runs, each reading its reports on its own thread: all complete', async () => {
    const results = await Promise.all(['a', 'b', 'c'].map((x, i) =>
      run({ policy: 'strict', command: ['/bin/sh', '-c', `sleep 0.${i + 1}; echo ${x}`], stdout: 'buffer', launcher: 'spawn' })));
    assert.deepEqual(results.map((r) => [r.status, r.stdout?.toString()]), [['OK', 'a\n'], ['OK', 'b\n'], ['OK', 'c\n']]);
  });

  test('a spawned launcher SIGKILLed mid-run: the run ends XX at once, nothing is left', async () => {
    const marker = `sbx-spawn-kill-${process.pid}`;
    const cmdline = (pid: string) => { try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { return ''; } };
    const withMarker = () => readdirSync('/proc').filter((q) => /^\d+$/.test(q) && cmdline(q).includes(marker));
    const pending = run({ policy: 'strict', command: ['/bin/sh', '-c', `sleep 30; : ${marker}`], launcher: 'spawn' });
    for (let i = 0; i < 300 && withMarker().length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.ok(withMarker().length > 0, 'the workload is running');
    const ours = readFileSync(`/proc/self/task/${process.pid}/children`, 'utf8').trim().split(/\s+/);
    const launcher = ours.find((pid) => cmdline(pid).includes('sandbox-launcher'));
    assert.ok(launcher, 'the launcher is our child');
    process.kill(Number(launcher), 'SIGKILL');
    const r = await pending;
    assert.equal(r.status, 'XX');
    assert.match(r.message, /killed by SIGKILL/);
    await new Promise((resolve) => setTimeout(resolve, 100)); // init and the workload die by their death signals
    assert.deepEqual(withMarker(), [], 'no process of the sandbox is left');
  });
});
