/**
 * Cgroup overhead per run: what createRunCgroup + remove() cost, alone and with a process joined and killed,
 * next to the cost of a bare spawn('/bin/true'); plus the price of one cpuUsageNs() read (the supervisor's timer
 * path). p50/p99/mean over N runs. Needs a usable cgroup driver (root on these machines). No assertions.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/cgroup.js [RUNS]
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { createRunCgroup, probeCgroups, type RunCgroup } from '../src/host/cgroup/index.js';

const LIMITS = { memoryBytes: 256 << 20, pids: 64, cpuCores: 1 };

interface Row {
  label: string;
  samples: number[]; // ms
}

function stats(xs: number[]): { p50: number; p99: number; mean: number } {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { p50: q(0.5), p99: q(0.99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

function exitOf(child: ReturnType<typeof spawn>): Promise<void> {
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', () => resolve());
  });
}

async function time(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Spawn a process that joins the group itself (as the launcher does) and then sleeps; resolve once it is inside. */
async function joinSleeper(cg: RunCgroup): Promise<ReturnType<typeof spawn>> {
  const child = spawn('/bin/sh', ['-c', 'for f in $SBX_PROCS; do echo $$ > "$f" || exit 97; done; echo; exec sleep 60'], {
    env: { ...process.env, SBX_PROCS: cg.procsFiles.join(' ') },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`joiner exited with ${code}`)));
  });
  return child;
}

export async function benchCgroup(runs: number): Promise<Row[]> {
  const rows: Row[] = [
    { label: "spawn('/bin/true') + exit", samples: [] },
    { label: 'createRunCgroup + remove (empty)', samples: [] },
    { label: '  of which createRunCgroup', samples: [] },
    { label: 'spawn sleep + SIGKILL + exit (no cgroup)', samples: [] },
    { label: 'create + join + killAll + remove', samples: [] },
    { label: '  of which killAll + remove', samples: [] },
  ];
  const warm = Math.min(10, runs);
  for (let i = 0; i < runs + warm; i++) {
    const keep = i >= warm;
    const a = await time(() => exitOf(spawn('/bin/true', { stdio: 'ignore' })));

    let create = 0;
    const b = await time(async () => {
      const t0 = performance.now();
      const cg = await createRunCgroup(`bench-${process.pid}-${i}`, LIMITS);
      create = performance.now() - t0;
      await cg.remove();
    });

    const c = await time(async () => {
      const child = spawn('/bin/sh', ['-c', 'echo; exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'] });
      await new Promise<void>((r) => child.stdout!.once('data', () => r()));
      const exited = exitOf(child);
      child.kill('SIGKILL');
      await exited;
    });

    let teardown = 0;
    const d = await time(async () => {
      const cg = await createRunCgroup(`bench-${process.pid}-j${i}`, LIMITS);
      const child = await joinSleeper(cg);
      const exited = exitOf(child);
      const t0 = performance.now();
      await cg.killAll();
      await cg.remove();
      teardown = performance.now() - t0;
      await exited;
    });
    if (keep) [a, b, create, c, d, teardown].forEach((v, k) => rows[k]!.samples.push(v));
  }
  // cpuUsageNs(): one pread of an open cgroup file.
  const cg = await createRunCgroup(`bench-${process.pid}-cpu`, {});
  const reads = 20_000;
  const t0 = performance.now();
  for (let i = 0; i < reads; i++) cg.cpuUsageNs();
  const perRead = (performance.now() - t0) / reads;
  await cg.remove();
  rows.push({ label: 'cpuUsageNs() (one read)', samples: [perRead] });
  return rows;
}

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 200);
  const probe = await probeCgroups();
  if (probe.driver === 'none') {
    process.stderr.write(`no usable cgroup driver: ${probe.reason}\n`);
    process.exit(1);
  }
  const rows = await benchCgroup(runs);
  const f = (ms: number) => (ms < 0.1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`).padStart(10);
  const width = Math.max(...rows.map((r) => r.label.length));
  const out = [
    `cgroup driver ${probe.driver} (${probe.mode}), limits memory+pids+cpu, ${runs} runs`,
    `${'operation'.padEnd(width)}  ${'p50'.padStart(10)}  ${'p99'.padStart(10)}  ${'mean'.padStart(10)}`,
    ...rows.map((r) => {
      const s = stats(r.samples);
      return `${r.label.padEnd(width)}  ${f(s.p50)}  ${f(s.p99)}  ${f(s.mean)}`;
    }),
  ];
  process.stdout.write(out.join('\n') + '\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
