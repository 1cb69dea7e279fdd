/**
 * Limits benchmark (issue 4), in one run:
 *   1. the overrun of the CPU-time and wall-time limits: how far past the limit a busy loop / a sleeper
 *      got before it was stopped, as the kernel's own counters (cgroup CPU usage) and the supervisor's
 *      clock report it — p50, p99 and max over N runs, printed next to isolate's documented 100 ms
 *      polling interval (its worst case overrun);
 *   2. what limits add to a run: run() of /bin/true without limits vs with memory+pids+CPU limits
 *      (cgroup create + configure + join + stats + remove), interleaved round by round.
 *
 * Usage: node dist/bench/limits.js [--runs N] [--limit-ms M]     (as root for the cgroup path)
 */
import { loadavg } from 'node:os';
import { run } from '../src/api.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function stats(values: number[]): { p50: number; p99: number; max: number; mean: number } {
  const s = [...values].sort((a, b) => a - b);
  return { p50: quantile(s, 0.5), p99: quantile(s, 0.99), max: s[s.length - 1]!, mean: s.reduce((a, b) => a + b, 0) / s.length };
}

const fmt = (v: number) => v.toFixed(2).padStart(8);

async function main(): Promise<void> {
  const runs = arg('--runs', 100);
  const limitMs = arg('--limit-ms', 100);
  console.log(`limits benchmark: ${runs} runs per row, limit ${limitMs} ms, euid ${process.geteuid!()}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  const cpuOver: number[] = [];
  const wallOver: number[] = [];
  let cpuSource = '';
  for (let i = 0; i < runs; i++) {
    const c = await run({ command: ['sh', '-c', 'while :; do :; done'], cpuTime: limitMs, stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' });
    if (c.status !== 'TO' || c.time.cpuMs === null) throw new Error(`CPU run: ${c.status} ${c.message}`);
    cpuOver.push(c.time.cpuMs - limitMs);
    cpuSource = `${c.time.cpuSource} (${c.limits['cpuTime']?.mechanism})`;
    const w = await run({ command: ['sleep', '10'], wallTime: limitMs, stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' });
    if (w.status !== 'TO') throw new Error(`wall run: ${w.status} ${w.message}`);
    wallOver.push(w.time.wallMs - limitMs);
  }
  console.log(`\noverrun past the limit, ms (CPU measured by ${cpuSource}; wall by the supervisor's clock)`);
  console.log('limit        p50      p99      max     mean   isolate (100 ms poll: worst case)');
  for (const [name, v] of [['CPU time', cpuOver], ['wall time', wallOver]] as const) {
    const s = stats(v);
    console.log(`${name.padEnd(9)} ${fmt(s.p50)} ${fmt(s.p99)} ${fmt(s.max)} ${fmt(s.mean)}   ${fmt(100)}`);
  }

  const bare: number[] = [];
  const limited: number[] = [];
  const rounds = Math.max(10, Math.floor(runs / 2));
  for (let i = 0; i < rounds + 3; i++) {
    const t0 = performance.now();
    const a = await run({ command: ['true'], stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' });
    const t1 = performance.now();
    const b = await run({ command: ['true'], memory: '256M', pids: 64, cpuTime: '1s', stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' });
    const t2 = performance.now();
    if (a.status !== 'OK' || b.status !== 'OK') throw new Error(`${a.message} / ${b.message}`);
    if (i >= 3) { bare.push(t1 - t0); limited.push(t2 - t1); } // first rounds warm caches
  }
  const sb = stats(bare);
  const sl = stats(limited);
  console.log(`\nper-run cost of limits (run() of /bin/true, ${rounds} interleaved rounds; cgroup create + configure + join + stats + remove where a cgroup is usable)`);
  console.log('                       p50      p99     mean');
  console.log(`no limits          ${fmt(sb.p50)} ${fmt(sb.p99)} ${fmt(sb.mean)}`);
  console.log(`memory+pids+cpu    ${fmt(sl.p50)} ${fmt(sl.p99)} ${fmt(sl.mean)}`);
  console.log(`added by limits    ${fmt(sl.p50 - sb.p50)}          ${fmt(sl.mean - sb.mean)}   (ratio ${(sl.mean / sb.mean).toFixed(2)}x)`);
  console.log(`\nload at end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
