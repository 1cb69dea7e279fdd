/**
 * Launch overhead, side by side in one run: `/bin/true` bare, under bubblewrap, `node -e 0`, under
 * `sandbox exec --policy strict` through the CLI, and through the library's run() called repeatedly in
 * this process. The configurations are interleaved round by round (and the order rotates each round),
 * so machine load affects them equally. No assertions: numbers are for reading.
 *
 *   npx tsc -p tsconfig.json && node scripts/postbuild.mjs && node dist/bench/launch.js [--runs N] [--warmup N]
 *
 * Every configuration is timed the same way from this process: from spawn() (or the run() call) to
 * the child's exit (or the settled promise). The goals the project is held to:
 *   library per-run ÷ bwrap per-run ≤ 1.0, and CLI − `node -e 0` ≤ 25 ms.
 * Each spawned configuration also gets its minor page faults (its own and its reaped descendants'),
 * next to what one fault costs on this machine, measured here: on some VMs a fault costs 10-100 times
 * the usual, and a start then costs about what it touches.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { run } from '../src/api.js';
import { prepareRun } from '../src/launch/prepare.js';
import { launcherPath } from '../src/launch/supervisor.js';
import { encodePlan } from '../src/launch/wire.js';
import { bwrapArgs, childFaults } from './common.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(ROOT, 'dist/bin/sandbox.cjs');

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1) {
    console.error(`--${name} needs a positive integer`);
    process.exit(2);
  }
  return v;
}

const RUNS = option('runs', 30);
const WARMUP = option('warmup', 3);

interface Config {
  label: string;
  once(): Promise<void>;
  /** a child process whose page faults this process can count (not run(): its work is the zygote's) */
  spawned: boolean;
}

/**
 * What one minor page fault costs here, in µs: 64 MB of fresh anonymous memory (calloc → mmap, not
 * yet touched), one write per page, the median of three rounds.
 */
function faultCostUs(): number {
  const PAGE = 4096;
  const rounds = [0, 1, 2].map(() => {
    const mem = new Uint8Array(64 << 20);
    const t0 = performance.now();
    for (let i = 0; i < mem.length; i += PAGE) mem[i] = 1;
    return ((performance.now() - t0) * 1000) / (mem.length / PAGE);
  });
  return rounds.sort((a, b) => a - b)[1]!;
}

/** spawn → exit, stdio ignored; a non-zero exit aborts the benchmark (a failed run is not a measurement). */
function spawnConfig(label: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Config {
  return {
    label,
    spawned: true,
    once: () => new Promise((resolvePromise, reject) => {
      const child = spawn(cmd, args, { stdio: 'ignore', env });
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        if (code === 0) resolvePromise();
        else reject(new Error(`${label}: exited with ${code ?? signal}`));
      });
    }),
  };
}

/**
 * The floor under the CLI row: a fresh `node` that reads an already encoded strict plan and starts
 * the launcher on it the way the CLI does (posix_spawn through native/build/sandbox-spawn.node, the
 * plan in a memfd, the reports read on the spawn module's thread, the exit by _exit) — no
 * argument parsing, no policy, no prepare, no supervision beyond the exit. Whatever the CLI costs
 * above this row is the CLI's own; the distance from `node -e 0` to this row is what starting the
 * launcher plus the sandbox itself cost, and no Node CLI can go below it.
 */
async function floorConfig(): Promise<{ config: Config; dispose(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'sbx-bench-floor-'));
  const prepared = await prepareRun({ policy: 'strict', command: ['/bin/true'] });
  await prepared.acquire(); // the run's cgroup, shared by the floor's runs (each leaves it empty)
  writeFileSync(join(dir, 'plan.bin'), encodePlan(prepared.plan));
  const script = join(dir, 'floor.cjs');
  writeFileSync(script, [
    "const fs = require('node:fs');",
    'const m = { exports: {} };',
    `process.dlopen(m, ${JSON.stringify(join(dirname(launcherPath()), 'sandbox-spawn.node'))});`,
    // as the CLI does: the plan in a memfd written before the spawn, the reports read on the spawn
    // module's thread (not node:net, which the CLI does not load)
    `const plan = fs.readFileSync(${JSON.stringify(join(dir, 'plan.bin'))});`,
    'const planFd = m.exports.memfd();',
    'fs.writeSync(planFd, plan, 0, plan.length, 0); // pwrite: the launcher reads from offset 0',
    'const [reportRead, reportWrite] = m.exports.pipe();',
    "const devNull = fs.openSync('/dev/null', 'r+');",
    `const pid = m.exports.spawn(${JSON.stringify(launcherPath())}, [${JSON.stringify(launcherPath())}, '--parent-pid', String(process.pid)], [], [devNull, devNull, devNull, planFd, reportWrite]);`,
    'fs.closeSync(planFd); fs.closeSync(reportWrite);',
    // and it ends as the CLI does (exitNow): _exit, without Node's exit path
    "m.exports.readPipe(reportRead, (chunk) => { if (chunk === null) { const status = m.exports.wait(pid); m.exports.exit(status === 0 ? 0 : 1); } });",
  ].join('\n'));
  return {
    config: spawnConfig('floor: node spawning the launcher on a ready plan', process.execPath, [script]),
    dispose: async () => {
      await prepared.release();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const floor = await floorConfig();

/**
 * Node reads every certificate named by NODE_EXTRA_CA_CERTS when it starts, before any script runs:
 * where it is set (as on the dev VMs), each Node row includes that. The goal compares two such rows,
 * so it cancels out; this row shows how much of `node -e 0` it is.
 */
const withoutExtraCerts: Config[] = process.env['NODE_EXTRA_CA_CERTS']
  ? [spawnConfig('node -e 0, NODE_EXTRA_CA_CERTS unset', process.execPath, ['-e', '0'],
    Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_EXTRA_CA_CERTS')))]
  : [];

const configs: Config[] = [
  spawnConfig('/bin/true (bare)', '/bin/true', []),
  spawnConfig('bwrap --unshare-all, ro /usr', 'bwrap', bwrapArgs()),
  spawnConfig('node -e 0', process.execPath, ['-e', '0']),
  spawnConfig('sandbox exec --policy strict (CLI)', process.execPath, [CLI, 'exec', '--policy', 'strict', '--', '/bin/true']),
  floor.config,
  {
    label: "run({policy:'strict'}) (library)",
    spawned: false,
    once: async () => {
      const r = await run({ policy: 'strict', command: ['/bin/true'], stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' });
      if (r.status !== 'OK') throw new Error(`library: ${r.status}: ${r.message}`);
    },
  },
  ...withoutExtraCerts,
];

interface Sample { ms: number; faults: number }

async function timed(c: Config): Promise<Sample> {
  const f0 = childFaults();
  const t0 = performance.now();
  await c.once();
  const ms = performance.now() - t0;
  return { ms, faults: childFaults() - f0 };
}

interface Stats { mean: number; p50: number; p90: number; min: number; max: number }

// nearest-rank percentile of sorted values
const percentile = (sorted: number[], p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;

function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  return { mean: s.reduce((a, b) => a + b, 0) / s.length, p50: percentile(s, 0.5), p90: percentile(s, 0.9), min: s[0]!, max: s[s.length - 1]! };
}

const median = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 0.5);

function check(): void {
  const problems: string[] = [];
  if (spawnSync('bwrap', ['--version']).status !== 0) problems.push('bwrap is not installed (apt-get install bubblewrap)');
  if (!existsSync(CLI)) problems.push(`${CLI} is missing: build first (npx tsc -p tsconfig.json && node scripts/postbuild.mjs)`);
  if (problems.length > 0) {
    for (const p of problems) console.error(`bench/launch: ${p}`);
    process.exit(1);
  }
}

const fmt = (ms: number) => ms.toFixed(2).padStart(8);
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

async function main(): Promise<void> {
  check();
  const euid = process.geteuid!();
  console.log(`launch bench: ${RUNS} runs per configuration (+${WARMUP} warm-up), interleaved round by round`);
  console.log(`host: ${cpus().length} CPUs, kernel ${release()}, node ${process.version}, running as ${euid === 0 ? 'root' : `uid ${euid} (rootless)`}`);
  console.log(`load average at start: ${load()}`);
  const faultCostStart = faultCostUs();

  // Warm-up: page cache, the seccomp program cache, the lazily imported modules of run().
  for (let i = 0; i < WARMUP; i++) for (const c of configs) await c.once();

  const samples = configs.map(() => [] as Sample[]);
  for (let round = 0; round < RUNS; round++) {
    // rotate the order each round so that no configuration always follows the same one
    for (let k = 0; k < configs.length; k++) {
      const i = (round + k) % configs.length;
      samples[i]!.push(await timed(configs[i]!));
    }
  }
  const endLoad = load();
  const faultCost = (faultCostStart + faultCostUs()) / 2;

  const rows = configs.map((c, i) => ({
    label: c.label,
    ...stats(samples[i]!.map((s) => s.ms)),
    faults: c.spawned ? median(samples[i]!.map((s) => s.faults)) : null,
  }));
  const width = Math.max(...rows.map((r) => r.label.length));
  console.log('');
  console.log(`${'configuration'.padEnd(width)}  ${['mean', 'p50', 'p90', 'min', 'max'].map((h) => h.padStart(8)).join(' ')}   (ms)   faults (p50)`);
  for (const r of rows) {
    console.log(`${r.label.padEnd(width)}  ${[r.mean, r.p50, r.p90, r.min, r.max].map(fmt).join(' ')}   ${r.faults === null ? '     —' : String(r.faults).padStart(6)}`);
  }

  const [bare, bwrap, node, cliRow, floorRow, lib] = rows as unknown as [Stats, Stats, Stats, Stats, Stats, Stats];
  const faults = (r: unknown) => (r as { faults: number }).faults;
  console.log('');
  console.log('goals:');
  console.log(`  library per-run ÷ bwrap:          mean ${(lib.mean / bwrap.mean).toFixed(2)}   p50 ${(lib.p50 / bwrap.p50).toFixed(2)}   (goal ≤ 1.00)`);
  console.log(`  CLI − node -e 0:                  mean ${(cliRow.mean - node.mean).toFixed(1)} ms   p50 ${(cliRow.p50 - node.p50).toFixed(1)} ms   (goal ≤ 25 ms)`);
  console.log('context:');
  console.log(`  overhead over bare /bin/true:     library ${(lib.p50 - bare.p50).toFixed(2)} ms, bwrap ${(bwrap.p50 - bare.p50).toFixed(2)} ms (p50)`);
  console.log(`  CLI ÷ library:                    ${(cliRow.p50 / lib.p50).toFixed(2)} (p50)`);
  console.log(`  floor − node -e 0:                ${(floorRow.p50 - node.p50).toFixed(1)} ms (p50): the least any Node CLI can add`);
  console.log(`  CLI − floor:                      ${(cliRow.p50 - floorRow.p50).toFixed(1)} ms (p50): the CLI's own cost`);
  const extraFaults = faults(cliRow) - faults(node);
  console.log(`  one page fault here:              ${faultCost.toFixed(2)} µs (64 MB of fresh pages, at start and end; ~0.1-0.5 µs is usual)`);
  console.log(`  CLI − node -e 0 in page faults:   ${extraFaults} faults (p50), ≈ ${((extraFaults * faultCost) / 1000).toFixed(1)} ms of the difference at that cost`);
  if (withoutExtraCerts.length > 0) {
    const unset = rows[rows.length - 1]!;
    console.log(`  NODE_EXTRA_CA_CERTS:              set; Node's start reads those certificates: node -e 0 is ${(node.p50 - unset.p50).toFixed(1)} ms (p50) faster without it`);
  }
  console.log(`load average at end:   ${endLoad}`);
}

try {
  await main();
} finally {
  await floor.dispose();
}
