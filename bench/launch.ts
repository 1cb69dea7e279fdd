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
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { run } from '../src/api.js';
import { prepareRun } from '../src/launch/prepare.js';
import { launcherPath } from '../src/launch/supervisor.js';
import { encodePlan } from '../src/launch/wire.js';

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

/** bwrap with a read-only /usr and the merged-/usr symlinks this host has (or binds where it has dirs). */
function bwrapArgs(): string[] {
  const args = ['--unshare-all', '--ro-bind', '/usr', '/usr'];
  for (const d of ['/bin', '/lib', '/lib64', '/sbin']) {
    if (!existsSync(d)) continue;
    const st = lstatSync(d);
    if (st.isSymbolicLink()) args.push('--symlink', readlinkSync(d), d);
    else if (st.isDirectory()) args.push('--ro-bind', d, d);
  }
  return [...args, '--proc', '/proc', '--dev', '/dev', '/bin/true'];
}

interface Config {
  label: string;
  once(): Promise<void>;
}

/** spawn → exit, stdio ignored; a non-zero exit aborts the benchmark (a failed run is not a measurement). */
function spawnConfig(label: string, cmd: string, args: string[]): Config {
  return {
    label,
    once: () => new Promise((resolvePromise, reject) => {
      const child = spawn(cmd, args, { stdio: 'ignore' });
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
 * the launcher on it the way the CLI does (posix_spawn through native/build/sandbox-spawn.node) — no
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
    `const plan = fs.readFileSync(${JSON.stringify(join(dir, 'plan.bin'))});`,
    'const [planRead, planWrite] = m.exports.pipe();',
    'const [reportRead, reportWrite] = m.exports.pipe();',
    "const devNull = fs.openSync('/dev/null', 'r+');",
    `const pid = m.exports.spawn(${JSON.stringify(launcherPath())}, [${JSON.stringify(launcherPath())}, '--parent-pid', String(process.pid)], [], [devNull, devNull, devNull, planRead, reportWrite]);`,
    'fs.closeSync(planRead); fs.closeSync(reportWrite);',
    'fs.writeSync(planWrite, plan); fs.closeSync(planWrite);',
    "const reports = new (require('node:net').Socket)({ fd: reportRead, readable: true, writable: false });",
    "reports.resume();",
    "reports.on('close', () => { const status = m.exports.wait(pid); process.exit(status === 0 ? 0 : 1); });",
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

const configs: Config[] = [
  spawnConfig('/bin/true (bare)', '/bin/true', []),
  spawnConfig('bwrap --unshare-all, ro /usr', 'bwrap', bwrapArgs()),
  spawnConfig('node -e 0', process.execPath, ['-e', '0']),
  spawnConfig('sandbox exec --policy strict (CLI)', process.execPath, [CLI, 'exec', '--policy', 'strict', '--', '/bin/true']),
  floor.config,
  {
    label: "run({policy:'strict'}) (library)",
    once: async () => {
      const r = await run({ policy: 'strict', command: ['/bin/true'], stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' });
      if (r.status !== 'OK') throw new Error(`library: ${r.status}: ${r.message}`);
    },
  },
];

async function timed(c: Config): Promise<number> {
  const t0 = performance.now();
  await c.once();
  return performance.now() - t0;
}

interface Stats { mean: number; p50: number; p90: number; min: number; max: number }

function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  // nearest-rank percentiles
  const q = (p: number) => s[Math.max(0, Math.ceil(p * s.length) - 1)]!;
  return { mean: s.reduce((a, b) => a + b, 0) / s.length, p50: q(0.5), p90: q(0.9), min: s[0]!, max: s[s.length - 1]! };
}

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

  // Warm-up: page cache, the seccomp program cache, the lazily imported modules of run().
  for (let i = 0; i < WARMUP; i++) for (const c of configs) await c.once();

  const samples = configs.map(() => [] as number[]);
  for (let round = 0; round < RUNS; round++) {
    // rotate the order each round so that no configuration always follows the same one
    for (let k = 0; k < configs.length; k++) {
      const i = (round + k) % configs.length;
      samples[i]!.push(await timed(configs[i]!));
    }
  }
  const endLoad = load();

  const rows = configs.map((c, i) => ({ label: c.label, ...stats(samples[i]!) }));
  const width = Math.max(...rows.map((r) => r.label.length));
  console.log('');
  console.log(`${'configuration'.padEnd(width)}  ${['mean', 'p50', 'p90', 'min', 'max'].map((h) => h.padStart(8)).join(' ')}   (ms)`);
  for (const r of rows) console.log(`${r.label.padEnd(width)}  ${[r.mean, r.p50, r.p90, r.min, r.max].map(fmt).join(' ')}`);

  const [bare, bwrap, node, cliRow, floorRow, lib] = rows as unknown as [Stats, Stats, Stats, Stats, Stats, Stats];
  console.log('');
  console.log('goals:');
  console.log(`  library per-run ÷ bwrap:          mean ${(lib.mean / bwrap.mean).toFixed(2)}   p50 ${(lib.p50 / bwrap.p50).toFixed(2)}   (goal ≤ 1.00)`);
  console.log(`  CLI − node -e 0:                  mean ${(cliRow.mean - node.mean).toFixed(1)} ms   p50 ${(cliRow.p50 - node.p50).toFixed(1)} ms   (goal ≤ 25 ms)`);
  console.log('context:');
  console.log(`  overhead over bare /bin/true:     library ${(lib.p50 - bare.p50).toFixed(2)} ms, bwrap ${(bwrap.p50 - bare.p50).toFixed(2)} ms (p50)`);
  console.log(`  CLI ÷ library:                    ${(cliRow.p50 / lib.p50).toFixed(2)} (p50)`);
  console.log(`  floor − node -e 0:                ${(floorRow.p50 - node.p50).toFixed(1)} ms (p50): the least any Node CLI can add`);
  console.log(`  CLI − floor:                      ${(cliRow.p50 - floorRow.p50).toFixed(1)} ms (p50): the CLI's own cost`);
  console.log(`load average at end:   ${endLoad}`);
}

try {
  await main();
} finally {
  await floor.dispose();
}
