/**
 * A/B of whole commands: each LABEL=COMMAND is spawned in turn, round by round (the order rotates),
 * and its wall time and minor page faults (its own and its reaped children's) are reported with the
 * difference to the first command. Used to compare two builds of the CLI, or the CLI with `node -e 0`,
 * when the machine drifts: interleaving exposes both to the same load. No assertions.
 *
 *   node dist/bench/compare.js [--rounds N] 'node=node -e 0' 'old=node /old/dist/bin/sandbox.cjs exec -- /bin/true' \
 *     'new=node dist/bin/sandbox.cjs exec -- /bin/true'
 *
 * A command is split on spaces (no quoting). A command that fails stops the comparison.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { childFaults } from './common.js';

interface Row { label: string; argv: string[]; ms: number[]; faults: number[] }

function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.round(q * (s.length - 1))]!;
}

function parseArgs(argv: string[]): { rounds: number; rows: Row[] } {
  let rounds = 40;
  const rows: Row[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--rounds') {
      rounds = Number(argv[++i]);
      continue;
    }
    const eq = argv[i]!.indexOf('=');
    if (eq < 1) throw new Error(`'${argv[i]}': write LABEL=COMMAND`);
    rows.push({ label: argv[i]!.slice(0, eq), argv: argv[i]!.slice(eq + 1).split(' ').filter(Boolean), ms: [], faults: [] });
  }
  if (!Number.isInteger(rounds) || rounds < 1 || rows.length < 2) throw new Error('usage: compare.js [--rounds N] LABEL=COMMAND LABEL=COMMAND...');
  return { rounds, rows };
}

function main(): void {
  const { rounds, rows } = parseArgs(process.argv.slice(2));
  console.log(`compare: ${rounds} rounds (+3 warm-up), interleaved; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  for (let round = 0; round < rounds + 3; round++) {
    for (let k = 0; k < rows.length; k++) {
      const row = rows[(round + k) % rows.length]!;
      const faults = childFaults();
      const start = process.hrtime.bigint();
      const r = spawnSync(row.argv[0]!, row.argv.slice(1), { stdio: 'ignore' });
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (r.status !== 0) throw new Error(`${row.label}: exit status ${r.status ?? r.signal}`);
      if (round >= 3) {
        row.ms.push(ms);
        row.faults.push(childFaults() - faults);
      }
    }
  }
  const base = rows[0]!;
  console.log(`${'command'.padEnd(12)} ${['p25', 'p50', 'p75'].map((h) => h.padStart(8)).join('')}   (ms)  faults (p50)   p50 − ${base.label}`);
  for (const row of rows) {
    const q = [0.25, 0.5, 0.75].map((x) => quantile(row.ms, x).toFixed(1).padStart(8)).join('');
    const diff = row === base ? '' : `${(quantile(row.ms, 0.5) - quantile(base.ms, 0.5)).toFixed(1)} ms`;
    console.log(`${row.label.padEnd(12)} ${q}   ${String(quantile(row.faults, 0.5)).padStart(12)}   ${diff}`);
  }
  console.log(`load average at end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

main();
