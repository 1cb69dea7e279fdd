/**
 * The zygote's protocol (native/zygote.c), spoken directly: requests with fds over its SOCK_SEQPACKET
 * socket, events on its stdout. Malformed requests are refused and their fds closed, a signal reaches
 * only a run the zygote has not reaped, run ids are unique, and closing the socket tears down the
 * runs in flight and ends the zygote.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { describe, test } from 'node:test';
import { memfd, seqpacketPair } from '../../src/host/libc.js';
import { prepareRun } from '../../src/launch/prepare.js';
import { pipe } from '../../src/launch/spawn.js';
import { sendWithFds } from '../../src/launch/fdpass.js';
import {
  decodeReport, decodeZygoteEvent, encodePlan, encodeZygoteRequest, REPORT_SIZE, ZYGOTE_EVENT, ZYGOTE_OP, ZYGOTE_RECORD_SIZE, type ZygoteEvent,
} from '../../src/launch/wire.js';
import { LAUNCHER } from '../helpers/cli.js';
import { decodeReports } from '../helpers/launcher.js';

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

/** Hand the zygote run `id` with a plan the launcher refuses ("not a plan", in a memfd as the library's are). */
function sendGarbageRun(z: Zygote, id: number): void {
  const planFd = memfd('test-plan');
  writeSync(planFd, Buffer.from('not a plan'), 0, 10, 0);
  const run = runFds(planFd);
  send(z, encodeZygoteRequest(ZYGOTE_OP.RUN, id), run.fds);
  run.close();
  closeSync(planFd);
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

/** The command line of `pid` ('' once it is gone). */
function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/** The zygote's spare: its child titled so (native/zygote.c), once it exists. */
async function waitForSpare(zygote: number): Promise<number> {
  let found = 0;
  await until(() => {
    found = childrenOf(zygote).find((c) => cmdline(c).startsWith(`sandbox-launcher (spare of zygote ${zygote})`)) ?? 0;
    return found > 0;
  });
  return found;
}

/** The spare's prepared init (native/main.c): its child, titled as every init is, once it is. */
async function waitForPreparedInit(spare: number): Promise<number> {
  let found = 0;
  await until(() => {
    found = childrenOf(spare).find((c) => cmdline(c).startsWith('sandbox-init')) ?? 0;
    return found > 0;
  });
  return found;
}

/** Whether `pid` exists at all: running, or a zombie nobody reaped. */
function exists(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
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
      sendGarbageRun(z, 1);
      assert.equal((await z.next()).type, ZYGOTE_EVENT.FORKED);
      assert.equal((await z.next()).type, ZYGOTE_EVENT.EXITED);
      const spare = await waitForSpare(z.child.pid!);
      await waitForPreparedInit(spare);
      const held = openFds(spare).map((fd) => readlinkSync(`/proc/${spare}/fd/${fd}`).replace(/\[\d+\]$/, ''));
      assert.deepEqual(held.sort(), ['anon_inode:[pidfd]', 'socket:', 'socket:'], 'the spare holds its own socket, and its prepared init\'s socket and pidfd');
      sendGarbageRun(z, 2);
      assert.deepEqual(await z.next(), { type: ZYGOTE_EVENT.FORKED, runId: 2, value: spare }, 'run 2 is the spare');
      assert.deepEqual(await z.next(), { type: ZYGOTE_EVENT.EXITED, runId: 2, value: 125 << 8 });
      // a spare killed by someone: the next run is forked instead, and works the same
      const next = await waitForSpare(z.child.pid!);
      process.kill(next, 'SIGKILL');
      await until(() => !childrenOf(z.child.pid!).includes(next));
      sendGarbageRun(z, 3);
      const forked = await z.next();
      assert.equal(forked.type, ZYGOTE_EVENT.FORKED);
      assert.notEqual(forked.value, next);
      assert.deepEqual(await z.next(), { type: ZYGOTE_EVENT.EXITED, runId: 3, value: 125 << 8 });
    } finally {
      z.close();
    }
    assert.equal(await z.exited, 0);
  });

  test("a spare's prepared init: new namespaces but mount and cgroup, no id map, one fd; discarded, it leaves nothing", async () => {
    const z = startZygote();
    const garbageRun = async (id: number) => {
      sendGarbageRun(z, id);
      assert.equal((await z.next()).type, ZYGOTE_EVENT.FORKED);
      assert.deepEqual(await z.next(), { type: ZYGOTE_EVENT.EXITED, runId: id, value: 125 << 8 });
    };
    try {
      await garbageRun(1);
      const spare = await waitForSpare(z.child.pid!);
      const init = await waitForPreparedInit(spare);
      const ns = (pid: number, kind: string) => readlinkSync(`/proc/${pid}/ns/${kind}`);
      for (const kind of ['user', 'pid', 'net', 'ipc', 'uts']) {
        assert.notEqual(ns(init, kind), ns(spare, kind), `its own ${kind} namespace, made ahead`);
      }
      for (const kind of ['mnt', 'cgroup']) {
        assert.equal(ns(init, kind), ns(spare, kind), `no ${kind} namespace yet: it is made when the run starts`);
      }
      assert.equal(readFileSync(`/proc/${init}/uid_map`, 'utf8'), '', 'no id map until its run has a uid');
      assert.equal(readFileSync(`/proc/${init}/gid_map`, 'utf8'), '');
      assert.match(readFileSync(`/proc/${init}/status`, 'utf8'), /^Groups:\s*$/m, 'no supplementary group of the zygote\'s');
      assert.deepEqual(openFds(init).map((fd) => readlinkSync(`/proc/${init}/fd/${fd}`).replace(/\[\d+\]$/, '')), ['socket:'], 'only its socket to the spare');
      // a run whose plan A cannot decode: the prepared init dies unused and is reaped (by the zygote)
      await garbageRun(2);
      await until(() => !exists(init));
      // a spare killed by someone: its prepared init dies too, and is reaped
      const spare2 = await waitForSpare(z.child.pid!);
      const init2 = await waitForPreparedInit(spare2);
      process.kill(spare2, 'SIGKILL');
      await until(() => !exists(spare2) && !exists(init2));
      // the zygote shutting down: the spare in waiting and its prepared init are gone before it exits
      await garbageRun(3);
      const spare3 = await waitForSpare(z.child.pid!);
      const init3 = await waitForPreparedInit(spare3);
      z.close();
      assert.equal(await z.exited, 0);
      assert.ok(!exists(spare3), 'the spare is gone');
      assert.ok(!exists(init3), 'its prepared init is gone, not left to the host\'s init');
    } finally {
      z.close();
    }
  });

  test('a plan the prepared init cannot take (not in a sealable memfd) runs in an init cloned at run time', async () => {
    const prepared = await prepareRun({ policy: 'strict', command: ['/bin/true'] });
    await prepared.acquire();
    const z = startZygote();
    try {
      sendGarbageRun(z, 1);
      assert.equal((await z.next()).type, ZYGOTE_EVENT.FORKED);
      assert.equal((await z.next()).type, ZYGOTE_EVENT.EXITED);
      const spare = await waitForSpare(z.child.pid!);
      const init = await waitForPreparedInit(spare);
      // a pipe cannot be sealed: A cannot be sure that a second reader would read what it read
      const [planRead, planWrite] = pipe();
      const run2 = runFds(planRead);
      const reports = readAll(run2.reports);
      send(z, encodeZygoteRequest(ZYGOTE_OP.RUN, 2), run2.fds);
      run2.close();
      closeSync(planRead);
      writeSync(planWrite, encodePlan(prepared.plan));
      closeSync(planWrite);
      assert.deepEqual(await z.next(), { type: ZYGOTE_EVENT.FORKED, runId: 2, value: spare });
      assert.deepEqual(await z.next(), { type: ZYGOTE_EVENT.EXITED, runId: 2, value: 0 });
      const records = await reports;
      const decoded = decodeReports(records);
      assert.ok(!decoded.some((r) => r.type === 'error'), JSON.stringify(decoded, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
      const started = decoded.find((r) => r.type === 'started');
      assert.ok(started && started.type === 'started' && started.initPid !== init, 'an init cloned for the run, not the prepared one');
      assert.ok(!exists(init), 'the prepared init was discarded, and reaped');
    } finally {
      z.close();
      await prepared.release();
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
