/**
 * Seccomp benchmark: ns per syscall with no filter, with libseccomp's binary-tree build
 * (SCMP_FLTATR_CTL_OPTIMIZE=2) of the strict policy, and with ours; plus the strict policy's
 * compile time. One run, one table, ratios printed. No assertions: numbers are for reading.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/seccomp.js [ITERATIONS [ALTERNATIONS]]
 *
 * The three configurations run alternately (ALTERNATIONS times, 3 rounds each) and each row takes
 * the minimum, so that drift of a shared machine does not favour whichever ran last.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { compileFilter, compileSeccomp, hostArch, runFilter, traceFilter, syscallNumber, ARCHES } from '../src/seccomp/index.js';
import { compileWithLibseccomp } from '../test/seccomp/helpers/libseccomp.js';
import { buildC, REPO } from '../test/seccomp/helpers/native.js';

const iterations = Number(process.argv[2] ?? 200_000);
const alternations = Number(process.argv[3] ?? 5);
const arch = hostArch();
const strict = JSON.parse(readFileSync(join(REPO, 'policies/seccomp/strict.json'), 'utf8'));

// Compile time of the strict policy (warm: median of 30 after 5 warm-ups).
for (let i = 0; i < 5; i++) compileSeccomp(strict, { arch });
const times: number[] = [];
for (let i = 0; i < 30; i++) {
  const t0 = performance.now();
  compileSeccomp(strict, { arch });
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);

const ours = compileFilter(strict, { arch });
const lib = compileWithLibseccomp(ours.ir, 2, true);
const dir = mkdtempSync(join(tmpdir(), 'seccomp-bench-'));
writeFileSync(join(dir, 'ours.bpf'), ours.program);
writeFileSync(join(dir, 'lib.bpf'), lib.program);

// The decisions for the measured syscalls must be the same in both programs (else the rows mean nothing).
const audit = ARCHES[arch].auditArch;
const measured: [string, string, bigint[]][] = [['getppid', 'getppid', []], ['close(-1)', 'close', [0xffffffffffffffffn]],
  ['getrandom', 'getrandom', [0n, 16n, 0n]], ['denied:syslog', 'syslog', [10n, 0n, 0n]]];
const path: Record<string, [number, number]> = {};
for (const [label, name, args] of measured) {
  const nr = syscallNumber(arch, name)!;
  const a = runFilter(ours.insns, { nr, arch: audit, args });
  const b = runFilter(lib.insns, { nr, arch: audit, args });
  if (a !== b) throw new Error(`${label}: the two programs decide differently (0x${a.toString(16)} vs 0x${b.toString(16)})`);
  path[label] = [traceFilter(ours.insns, { nr, arch: audit, args }).path.length, traceFilter(lib.insns, { nr, arch: audit, args }).path.length];
}

const bench = buildC('bench/seccomp-bench.c');
const run = (program: string, into: Record<string, number>): void => {
  const out = execFileSync(bench, [program, String(iterations), '3'], { encoding: 'utf8' });
  for (const l of out.trim().split('\n')) {
    const [k, v] = l.split(' ');
    into[k!] = Math.min(into[k!] ?? Infinity, Number(v));
  }
};
const none: Record<string, number> = {};
const libNs: Record<string, number> = {};
const oursNs: Record<string, number> = {};
const configs: [string, Record<string, number>][] = [['-', none], [join(dir, 'lib.bpf'), libNs], [join(dir, 'ours.bpf'), oursNs]];
for (let i = 0; i < alternations; i++) {
  // Rotate the order each time: no configuration always runs first or last.
  for (let j = 0; j < configs.length; j++) {
    const [program, into] = configs[(i + j) % configs.length]!;
    run(program, into);
  }
}

const pad = (s: string, n: number): string => s.padStart(n);
const lines = [
  `seccomp benchmark (${arch}, min ns/call over ${alternations}x3 rounds of ${iterations} calls, configurations alternating; strict policy: ours ${ours.insns.length} insns, libseccomp ${lib.insns.length} insns)`,
  `${'syscall'.padEnd(15)}${pad('no filter', 11)}${pad('libseccomp', 12)}${pad('ours', 9)}${pad('ours/lib', 10)}${pad('ours/none', 11)}${pad('BPF insns ours/lib', 20)}`,
];
for (const [label] of measured) {
  const [po, pl] = path[label]!;
  lines.push(`${label.padEnd(15)}${pad(none[label]!.toFixed(1), 11)}${pad(libNs[label]!.toFixed(1), 12)}${pad(oursNs[label]!.toFixed(1), 9)}` +
    `${pad((oursNs[label]! / libNs[label]!).toFixed(2) + 'x', 10)}${pad((oursNs[label]! / none[label]!).toFixed(2) + 'x', 11)}${pad(`${po}/${pl}`, 20)}`);
}
lines.push(`compile time of the strict policy (ours, warm): median ${times[15]!.toFixed(2)} ms, min ${times[0]!.toFixed(2)} ms`);
if (lib.unknown.length) lines.push(`(libseccomp 2.5 does not know ${lib.unknown.length} newer syscalls of the policy; they are left out of its build)`);
process.stdout.write(lines.join('\n') + '\n');
