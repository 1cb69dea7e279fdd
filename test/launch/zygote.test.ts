/**
 * The zygote's protocol (native/zygote.c), spoken directly: requests with fds over its SOCK_SEQPACKET
 * socket, events on its stdout. Malformed requests are refused and their fds closed, a signal reaches
 * only a run the zygote has not reaped, run ids are unique, and closing the socket tears down the
 * runs in flight and ends the zygote.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { describe, test } from 'node:test';
import { memfd, seqpacketPair } from '../../src/host/libc.js';
import { pipe } from '../../src/launch/spawn.js';
import { sendWithFds } from '../../src/launch/fdpass.js';
import {
  decodeReport, decodeZygoteEvent, encodeZygoteRequest, REPORT_SIZE, ZYGOTE_EVENT, ZYGOTE_OP, ZYGOTE_RECORD_SIZE, type ZygoteEvent,
} from '../../src/launch/wire.js';
import { LAUNCHER } from '../helpers/cli.js';

const EPROTO = 71;
const EEXIST = 17;

interface Zygote {
  child: ChildProcess;
  sock: number;
  next(): Promise<ZygoteEvent>;
  exited: Promise<number | null>;
  close(): void;
}

function startZygote(parentPid = process.pid): Zygote {
  const [ours, theirs] = seqpacketPair();
  const child = spawn(LAUNCHER, ['--zygote', '--parent-pid', String(parentPid)], { stdio: [theirs, 'pipe', 'inherit'], env: {} });
  closeSync(theirs);
  const queue: ZygoteEvent[] = [];
  const waiters: ((e: ZygoteEvent) => void)[] = [];
  let pending = Buffer.alloc(0);
  child.stdout!.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= ZYGOTE_RECORD_SIZE) {
      const e = decodeZygoteEvent(pending.subarray(0, ZYGOTE_RECORD_SIZE));
      pending = pending.subarray(ZYGOTE_RECORD_SIZE);
      const w = waiters.shift();
      if (w) w(e);
      else queue.push(e);
    }
  });
  let open = true;
  return {
    child,
    sock: ours,
    next: () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((r) => waiters.push(r))),
    exited: new Promise((r) => child.on('exit', (code) => r(code))),
    close: () => {
      if (open) closeSync(ours);
      open = false;
    },
  };
}

function send(z: Zygote, record: Buffer, fds: number[] = []): void {
  assert.equal(sendWithFds(z.sock, record, fds), 0, 'the request was sent');
}

/** The fds the process has open (numbers). */
function openFds(pid: number): number[] {
  return readdirSync(`/proc/${pid}/fd`).map(Number).sort((a, b) => a - b);
}

/** A plan fd the launcher blocks on: the read end of a pipe whose write end we keep. */
function blockingPlan(): { planFd: number; release(): void } {
  const [r, w] = pipe();
  return { planFd: r, release: () => closeSync(w) };
}

/** The five fds of a run: plan, stdin, stdout, stderr (all /dev/null) and a report pipe. */
function runFds(planFd: number): { fds: number[]; reports: number; close(): void } {
  const devNull = openSync('/dev/null', 'r+');
  const [reportRead, reportWrite] = pipe();
  return {
    fds: [planFd, devNull, devNull, devNull, reportWrite],
    reports: reportRead,
    close: () => { closeSync(devNull); closeSync(reportWrite); },
  };
}

function readAll(fd: number): Promise<Buffer> {
  const s = new Socket({ fd, readable: true, writable: false });
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((r) => s.on('close', () => r(Buffer.concat(chunks))));
}

/** Pids of the children of `pid`. */
function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text ? text.split(/\s+/).map(Number) : [];
}

async function until(done: () => boolean): Promise<void> {
  for (let i = 0; !done(); i++) {
    if (i > 200) assert.fail('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The zygote's spare: its child titled so (native/zygote.c), once it exists. */
async function waitForSpare(zygote: number): Promise<number> {
  let found = 0;
  await until(() => {
    found = childrenOf(zygote).find((c) => readFileSync(`/proc/${c}/cmdline`, 'utf8').startsWith(`sandbox-launcher (spare of zygote ${zygote})`)) ?? 0;
    return found > 0;
  });
  return found;
}

describe('the zygote protocol', { timeout: 60_000 }, () => {
  test('a run request with the wrong number of fds is refused, and the fds it carried are closed', async () => {
    const z = startZygote();
    try {
      // a malformed record, answered once the zygote is in its loop: only then are its fds all open
      send(z, Buffer.alloc(8));
      assert.deepEqual(await z.next(), { type: ZYGOTE_EVENT.REFUSED, runId: 0, value: EPROTO });
      const before = openFds(z.child.pid!);
      assert.deepEqual(before, [0, 1, 2, 3], 'its socket, event pipe, stderr and signalfd: nothing inherited');
      const [r, w] = pipe();
      send(z, encodeZygoteRequest(ZYGOTE_OP.RUN, 7), [r, w]);
      closeSync(r);
      closeSync(w);
      assert.deepEqual(await z.next(), { type: ZYGOTE_EVENT.REFUSED, runId: 7, value: EPROTO });
      assert.deepEqual(openFds(z.child.pid!), before, 'the zygote kept none of the fds');
    } finally {
      z.close();
    }
    assert.equal(await z.exited, 0);
  });

  test('a short record, one with a non-zero reserved field, or an unknown request is refused', async () => {
    const z = startZygote();
    try {
      send(z, Buffer.alloc(8));
      assert.deepEqual(await z.next(), { type: ZYGOTE_EVENT.REFUSED, runId: 0, value: EPROTO });
      const bad = encodeZygoteRequest(ZYGOTE_OP.SIGNAL, 3, 9);
      bad.writeUInt32LE(1, 12);
      send(z, bad);
      // not a well-formed record: its run id is not echoed
      assert.deepEqual(await z.next(), { type: ZYGOTE_EVENT.REFUSED, runId: 0, value: EPROTO });
      send(z, encodeZygoteRequest(99, 4));
      assert.deepEqual(await z.next(), { type: ZYGOTE_EVENT.REFUSED, runId: 4, value: EPROTO });
    } finally {
      z.close();
    }
    assert.equal(await z.exited, 0);
  });

  test('a run with a malformed plan is forked, reports a decode error and exits 125', async () => {
    const z = startZygote();
    const planFd = memfd('test-plan');
    writeSync(planFd, Buffer.from('not a plan'), 0, 10, 0);
    const run = runFds(planFd);
    try {
      const reports = readAll(run.reports);
      send(z, encodeZygoteRequest(ZYGOTE_OP.RUN, 1), run.fds);
      run.close();
      closeSync(planFd);
      const forked = await z.next();
      assert.equal(forked.type, ZYGOTE_EVENT.FORKED);
      assert.equal(forked.runId, 1);
      assert.ok(forked.value > 1, 'the pid of the run');
      assert.deepEqual(await z.next(), { type: ZYGOTE_EVENT.EXITED, runId: 1, value: 125 << 8 });
      const bytes = await reports;
      assert.equal(bytes.length, REPORT_SIZE, 'one report');
      const report = decodeReport(bytes);
      assert.equal(report.type, 'error');
      assert.equal(report.type === 'error' && report.step, 'DECODE');
    } finally {
      z.close();
    }
    assert.equal(await z.exited, 0);
  });

  test('run ids are unique among live runs; a signal reaches only its own live run', async () => {
    const z = startZygote();
    const plan = blockingPlan();
    const first = runFds(plan.planFd);
    const second = runFds(plan.planFd);
    try {
      send(z, encodeZygoteRequest(ZYGOTE_OP.RUN, 5), first.fds);
      const forked = await z.next();
      assert.deepEqual({ ...forked, value: 0 }, { type: ZYGOTE_EVENT.FORKED, runId: 5, value: 0 });
      send(z, encodeZygoteRequest(ZYGOTE_OP.RUN, 5), second.fds);
      assert.deepEqual(await z.next(), { type: ZYGOTE_EVENT.REFUSED, runId: 5, value: EEXIST });
      // an unknown id: nothing happens (the next event is the kill of run 5 below)
      send(z, encodeZygoteRequest(ZYGOTE_OP.SIGNAL, 6, constants.signals.SIGKILL));
      send(z, encodeZygoteRequest(ZYGOTE_OP.SIGNAL, 5, constants.signals.SIGKILL));
      assert.deepEqual(await z.next(), { type: ZYGOTE_EVENT.EXITED, runId: 5, value: constants.signals.SIGKILL });
      assert.throws(() => process.kill(forked.value, 0), /ESRCH/, 'the run is gone');
    } finally {
      first.close();
      second.close();
      plan.release();
      closeSync(plan.planFd);
      z.close();
    }
    assert.equal(await z.exited, 0);
  });

  test('closing the request socket tears down the runs in flight, then the zygote exits', async () => {
    const z = startZygote();
    const plan = blockingPlan();
    const run = runFds(plan.planFd);
    try {
      send(z, encodeZygoteRequest(ZYGOTE_OP.RUN, 2), run.fds);
      const forked = await z.next();
      assert.equal(forked.type, ZYGOTE_EVENT.FORKED);
      z.close();
      assert.deepEqual(await z.next(), { type: ZYGOTE_EVENT.EXITED, runId: 2, value: constants.signals.SIGTERM });
      assert.equal(await z.exited, 0);
      assert.throws(() => process.kill(forked.value, 0), /ESRCH/, 'the run is gone');
    } finally {
      run.close();
      plan.release();
      closeSync(plan.planFd);
      z.close();
    }
  });

  test('after a run ends, the next run is handed to a spare forked in advance, which holds nothing else', async () => {
    const z = startZygote();
    try {
      const garbage = () => {
        const planFd = memfd('test-plan');
        writeSync(planFd, Buffer.from('not a plan'), 0, 10, 0);
        return planFd;
      };
      const first = garbage();
      const run1 = runFds(first);
      send(z, encodeZygoteRequest(ZYGOTE_OP.RUN, 1), run1.fds);
      run1.close();
      closeSync(first);
      assert.equal((await z.next()).type, ZYGOTE_EVENT.FORKED);
      assert.equal((await z.next()).type, ZYGOTE_EVENT.EXITED);
      const spare = await waitForSpare(z.child.pid!);
      assert.deepEqual(openFds(spare), [openFds(spare)[0]], 'the spare holds one fd: its own socket');
      const second = garbage();
      const run2 = runFds(second);
      send(z, encodeZygoteRequest(ZYGOTE_OP.RUN, 2), run2.fds);
      run2.close();
      closeSync(second);
      assert.deepEqual(await z.next(), { type: ZYGOTE_EVENT.FORKED, runId: 2, value: spare }, 'run 2 is the spare');
      assert.deepEqual(await z.next(), { type: ZYGOTE_EVENT.EXITED, runId: 2, value: 125 << 8 });
      // a spare killed by someone: the next run is forked instead, and works the same
      const next = await waitForSpare(z.child.pid!);
      process.kill(next, 'SIGKILL');
      await until(() => !childrenOf(z.child.pid!).includes(next));
      const third = garbage();
      const run3 = runFds(third);
      send(z, encodeZygoteRequest(ZYGOTE_OP.RUN, 3), run3.fds);
      run3.close();
      closeSync(third);
      const forked = await z.next();
      assert.equal(forked.type, ZYGOTE_EVENT.FORKED);
      assert.notEqual(forked.value, next);
      assert.deepEqual(await z.next(), { type: ZYGOTE_EVENT.EXITED, runId: 3, value: 125 << 8 });
    } finally {
      z.close();
    }
    assert.equal(await z.exited, 0);
  });

  test('a zygote whose parent is not the given supervisor refuses to start', async () => {
    const z = startZygote(1);
    try {
      assert.equal(await z.exited, 125);
    } finally {
      z.close();
    }
  });
});
