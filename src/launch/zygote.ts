/**
 * The library's way to start launchers: one zygote per Node process (native/zygote.c), started on the
 * first run that uses it. A launcher started per run costs its exec and dynamic loading each time;
 * the zygote is a small process, started once, that forks an A per run instead — or hands the run to
 * the spare A it forked in advance, when the previous run ended, whose init already waits in its new
 * user, pid, network, IPC and UTS namespaces (native/main.c, "The prepared init"). The plan's memfd is
 * made sealable for it: A seals it before reading, and that init decodes the same bytes after A.
 * Each run hands it, over a private SOCK_SEQPACKET socket with SCM_RIGHTS, the plan (in a memfd) and
 * the launcher's fds: stdin, stdout, stderr and the write end of the report pipe. The zygote answers
 * on its stdout with FORKED / EXITED records; the reports come on the run's own pipe, as with spawn.
 *
 * The zygote never keeps Node alive by itself: its handles are referenced only while runs are in
 * flight. It dies with this process (PR_SET_PDEATHSIG), and every sandbox with it. If it dies on its
 * own, the runs in flight end as launcher failures and the next run starts a new one.
 */
import { closeSync, writeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { constants } from 'node:os';
import { SandboxError } from '../errors.js';
import { memfd, seqpacketPair } from '../host/libc.js';
import { sendWithFds } from './fdpass.js';
import { launcherExit, stdioFd, type LauncherHandle, type StdioFd } from './launcher-process.js';
import { pipeSocket } from './pipe-socket.js';
import { pipe, reap, startProcess } from './spawn.js';
import {
  decodeZygoteEvent, encodeZygoteRequest, fixedRecords, ZYGOTE_EVENT, ZYGOTE_OP, ZYGOTE_RECORD_SIZE, type ZygoteEvent,
} from './wire.js';

interface Flight {
  pid: number | undefined;
  exit: ((code: number | null, signal: NodeJS.Signals | null) => void) | null;
  /** an exit that came before anyone listened */
  ended: { code: number | null; signal: NodeJS.Signals | null } | null;
}

class Zygote {
  private readonly flights = new Map<number, Flight>();
  private nextId = 1;
  private dead = false;
  /**
   * `events`: the zygote's stdout. It ends only when the zygote exits (it never closes it), so its
   * end is the zygote's death, and the wait that reaps it then returns at once.
   */
  constructor(pid: number, private readonly events: Socket, private readonly sock: number) {
    this.events.on('data', fixedRecords(ZYGOTE_RECORD_SIZE, (record) => this.onEvent(decodeZygoteEvent(record))));
    this.events.on('close', () => {
      reap(pid);
      this.die();
    });
    // Only runs in flight keep the event loop alive, never the zygote itself.
    this.events.unref();
  }

  /**
   * posix_spawn, as for a one-run launcher (spawn.ts): forking Node would make its whole heap
   * copy-on-write, and a large process would pay a page fault per page it writes afterwards. The same
   * clean start: no environment, no fd but its socket (0), its event pipe (1) and /dev/null (2); the
   * zygote moves to / itself, so that it pins no directory.
   */
  static start(launcher: string): Zygote {
    const [ours, theirs] = seqpacketPair();
    let eventsRead = -1;
    let eventsWrite = -1;
    let pid: number;
    try {
      [eventsRead, eventsWrite] = pipe();
      pid = startProcess([launcher, '--zygote', '--parent-pid', String(process.pid)], [], [theirs, eventsWrite, stdioFd('ignore', 2)]);
    } catch (e) {
      closeSync(ours);
      if (eventsRead >= 0) closeSync(eventsRead);
      throw e;
    } finally {
      closeSync(theirs);
      if (eventsWrite >= 0) closeSync(eventsWrite);
    }
    return new Zygote(pid, pipeSocket(eventsRead, 'read'), ours);
  }

  get alive(): boolean {
    return !this.dead;
  }

  /** Start a launcher on `plan` with these fds; throws when the zygote cannot take the request. */
  launch(plan: Buffer, stdio: [StdioFd, StdioFd, StdioFd]): LauncherHandle {
    const id = this.nextId;
    this.nextId = (this.nextId % 0xffffffff) + 1;
    const planFd = memfd('sandbox-plan');
    let reportRead = -1;
    let reportWrite = -1;
    try {
      // pwrite at offset 0: the shared file offset stays 0, where the launcher starts reading.
      writeSync(planFd, plan, 0, plan.length, 0);
      [reportRead, reportWrite] = pipe();
      const fds = [planFd, stdioFd(stdio[0], 0), stdioFd(stdio[1], 1), stdioFd(stdio[2], 2), reportWrite];
      this.send(encodeZygoteRequest(ZYGOTE_OP.RUN, id), fds);
    } catch (e) {
      if (reportRead >= 0) closeSync(reportRead);
      throw e;
    } finally {
      // The zygote holds its own copies now (or the request failed): ours must go, or EOF never comes.
      closeSync(planFd);
      if (reportWrite >= 0) closeSync(reportWrite);
    }
    const flight: Flight = { pid: undefined, exit: null, ended: null };
    this.flights.set(id, flight);
    this.events.ref();
    return {
      get pid() { return flight.pid; },
      reports: pipeSocket(reportRead, 'read'),
      kill: (signal) => {
        // Through the zygote, which signals only a child it has not reaped: never a recycled pid.
        if (this.flights.has(id)) this.trySend(encodeZygoteRequest(ZYGOTE_OP.SIGNAL, id, constants.signals[signal]));
      },
      onExit: (cb) => {
        if (flight.ended) cb(flight.ended.code, flight.ended.signal);
        else flight.exit = cb;
      },
    };
  }

  private send(record: Buffer, fds: number[] = []): void {
    const rc = this.dead ? -32 : sendWithFds(this.sock, record, fds);
    if (rc === 0) return;
    if (rc === -32 || rc === -104 || rc === -111) this.die(); // EPIPE, ECONNRESET, ECONNREFUSED: it is gone
    throw new SandboxError('LAUNCH_FAILED', `cannot hand the run to the launcher zygote (errno ${-rc})`);
  }

  private trySend(record: Buffer): void {
    try {
      this.send(record);
    } catch { /* the zygote is gone: so is the run, and its exit is reported by die() */ }
  }

  private onEvent(e: ZygoteEvent): void {
    const flight = this.flights.get(e.runId);
    if (!flight) return;
    if (e.type === ZYGOTE_EVENT.FORKED) flight.pid = e.value;
    else if (e.type === ZYGOTE_EVENT.EXITED) this.end(e.runId, flight, launcherExit(e.value));
    // REFUSED: nothing was started; the report pipe's write end is closed, so the run sees no
    // reports and a launcher that "exited" with 125 without a word.
    else if (e.type === ZYGOTE_EVENT.REFUSED) this.end(e.runId, flight, { code: 125, signal: null });
  }

  private end(id: number, flight: Flight, exit: { code: number | null; signal: NodeJS.Signals | null }): void {
    this.flights.delete(id);
    if (this.flights.size === 0) this.events.unref();
    if (flight.exit) flight.exit(exit.code, exit.signal);
    else flight.ended = exit;
  }

  /** The zygote is gone: every launcher it forked died with it (their death signal). */
  private die(): void {
    if (this.dead) return;
    this.dead = true;
    if (zygote === this) zygote = null;
    closeSync(this.sock);
    for (const [id, flight] of [...this.flights]) this.end(id, flight, { code: null, signal: 'SIGKILL' });
  }
}

let zygote: Zygote | null = null;

/** Start a launcher through this process's zygote (started now if there is none, or it died). */
export function launchThroughZygote(launcher: string, plan: Buffer, stdio: [StdioFd, StdioFd, StdioFd]): LauncherHandle {
  const current = zygote?.alive ? zygote : (zygote = Zygote.start(launcher));
  try {
    return current.launch(plan, stdio);
  } catch (e) {
    // It died since the last run and we had not heard yet (its exit is reported asynchronously):
    // nothing of this run started, so a new zygote takes it.
    if (current.alive) throw e;
    zygote = Zygote.start(launcher);
    return zygote.launch(plan, stdio);
  }
}
