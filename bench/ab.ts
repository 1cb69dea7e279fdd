/**
 * A/B of the library between two builds of this package, in one process: `run()` of build A, `run()`
 * of build B and bubblewrap, interleaved round by round with the order rotating each round, so that
 * the load of a shared machine falls on all three alike. Each build has its own zygote (and spare).
 *
 * Usage: node dist/bench/ab.js <root A> <root B> [--rounds N] [--memory SIZE --pids N]
 *   <root>: a package root with dist/ and native/build/ built (e.g. a copy of the tree before a change)
 *   --memory/--pids: run with those limits (a cgroup per run), to A/B what limits add
 *
 * Prints p25/p50/p75/mean per configuration, library ÷ bwrap for each build, and the median of the
 * per-round differences B − A with how many rounds B was faster in (robust to drifts of the machine).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { bwrapArgs } from './common.js';

type RunFn = (opts: Record<string, unknown>) => Promise<{ status: string; message: string }>;

const [rootA, rootB] = process.argv.slice(2, 4).map((p) => resolve(p ?? ''));
function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const ROUNDS = Number(option('rounds') ?? 200);
if (!rootA || !rootB || !existsSync(`${rootA}/dist/src/api.js`) || !existsSync(`${rootB}/dist/src/api.js`) || !(ROUNDS >= 1)) {
  console.error('usage: node dist/bench/ab.js <root A> <root B> [--rounds N] [--memory SIZE --pids N]  (each root built: dist/, native/build/)');
  process.exit(2);
}

const limits = {
  ...(option('memory') ? { memory: option('memory') } : {}),
  ...(option('pids') ? { pids: Number(option('pids')) } : {}),
};
const opts = { policy: 'strict', command: ['/bin/true'], stdin: 'ignore', stdout: 'ignore', stderr: 'ignore', ...limits };

const library = async (root: string): Promise<() => Promise<void>> => {
  const { run } = (await import(`${root}/dist/src/api.js`)) as { run: RunFn };
  return async () => {
    const r = await run(opts);
    if (r.status !== 'OK') throw new Error(`${root}: ${r.status}: ${r.message}`);
  };
};
const args = bwrapArgs();
const configs: [string, () => Promise<void>][] = [
  ['A', await library(rootA)],
  ['B', await library(rootB)],
  ['bwrap', () => new Promise((done, fail) => {
    const child = spawn('bwrap', args, { stdio: 'ignore' });
    child.on('error', fail);
    child.on('exit', (code) => (code === 0 ? done() : fail(new Error(`bwrap exited with ${code}`))));
  })],
];

const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil(q * xs.length) - 1)]!;

for (let i = 0; i < 5; i++) for (const [, once] of configs) await once();
const times = configs.map(() => [] as number[]);
const loadAtStart = load();
for (let round = 0; round < ROUNDS; round++) {
  for (let k = 0; k < configs.length; k++) {
    const i = (round + k) % configs.length;
    const t0 = performance.now();
    await configs[i]![1]();
    times[i]!.push(performance.now() - t0);
  }
}
console.log(`${ROUNDS} rounds${Object.keys(limits).length ? `, limits ${JSON.stringify(limits)}` : ''}; load average ${loadAtStart} -> ${load()}`);
configs.forEach(([label], i) => {
  const t = times[i]!;
  const where = label === 'A' ? rootA : label === 'B' ? rootB : 'bwrap --unshare-all, ro /usr';
  console.log(`${label.padEnd(6)} p25 ${quantile(t, 0.25).toFixed(2)}  p50 ${quantile(t, 0.5).toFixed(2)}  p75 ${quantile(t, 0.75).toFixed(2)}  mean ${(t.reduce((a, b) => a + b, 0) / t.length).toFixed(2)} ms   ${where}`);
});
const [a, b, bw] = times as [number[], number[], number[]];
console.log(`library ÷ bwrap (p50): A ${(quantile(a, 0.5) / quantile(bw, 0.5)).toFixed(3)}, B ${(quantile(b, 0.5) / quantile(bw, 0.5)).toFixed(3)}`);
const diff = a.map((x, i) => b[i]! - x);
console.log(`B − A per round: median ${quantile(diff, 0.5).toFixed(2)} ms (p25 ${quantile(diff, 0.25).toFixed(2)}, p75 ${quantile(diff, 0.75).toFixed(2)}); B faster in ${diff.filter((d) => d < 0).length} of ${ROUNDS} rounds`);
process.exit(0);
