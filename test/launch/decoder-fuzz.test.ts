/**
 * The launcher's plan decoder under hostile input: random bytes, every kind of truncation, bit flips
 * and record-level mutations of a valid plan. Run under AddressSanitizer + UBSan (built here with
 * `make -C native asan`): every case must end in exit 0 (a still-valid plan) or 125 with a structured
 * DECODE error record — never a crash, a sanitizer report, or a hang.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { buildPlan, type PlanRequest } from '../../src/launch/plan.js';
import { DECODE_ERROR, decodeReport, encodePlan, REPORT_SIZE, STEP, TAG } from '../../src/launch/wire.js';
import type { LaunchPlan } from '../../src/launch/types.js';
import { loadPolicy } from '../../src/policy/load.js';
import { LAUNCHER, ROOT } from '../helpers/cli.js';

const ASAN = join(ROOT, 'native/build/sandbox-launcher-asan');

function validPlan(relay?: ('stdout' | 'stderr')[]): Buffer {
  const plan = validLaunchPlan();
  return encodePlan(relay ? { ...plan, relay } : plan);
}

function validLaunchPlan(): LaunchPlan {
  const { policy } = loadPolicy('default');
  const req: PlanRequest = {
    policy, argv: ['/bin/echo', 'hi'], binds: [{ source: '/srv', target: '/srv', mode: 'ro' }], tmpfs: [], workdir: '/tmp',
    env: { A: 'b' }, hostIds: { uid: 1001, gid: 1001 }, cgroupProcs: ['/sys/fs/cgroup/x/cgroup.procs'], image: null,
    seccomp: { hash: 'x', instructions: 2, source: 'test', program: Buffer.from('0600000000000000060000000000ff7f', 'hex') },
    extraRlimits: [],
    host: { euid: 1001, egid: 1001, kernel: '6.1', hardLimits: {}, entries: { '/usr': { kind: 'dir' }, '/bin': { kind: 'symlink', target: 'usr/bin' }, '/dev/null': { kind: 'other' } } },
  };
  return buildPlan(req);
}

/** The plan with one more record inserted before its end record (the header's length adjusted). */
function withRecord(plan: Buffer, tag: number, payload: Buffer): Buffer {
  const record = Buffer.alloc(8 + payload.length);
  record.writeUInt16LE(tag, 0);
  record.writeUInt32LE(payload.length, 4);
  payload.copy(record, 8);
  const out = Buffer.concat([plan.subarray(0, plan.length - 8), record, plan.subarray(plan.length - 8)]);
  out.writeUInt32LE(out.length, 4);
  return out;
}

interface Outcome { code: number | null; signal: NodeJS.Signals | null; stderr: string; reports: Buffer }

function check(binary: string, plan: Buffer): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['--check-plan'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], env: { ASAN_OPTIONS: 'detect_leaks=0' } });
    let stderr = '';
    const reports: Buffer[] = [];
    child.stderr!.on('data', (c) => { stderr += c; });
    (child.stdio[4] as NodeJS.ReadableStream).on('data', (c: Buffer) => reports.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', reject);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stderr, reports: Buffer.concat(reports) }); });
    const input = child.stdio[3] as NodeJS.WritableStream;
    input.on('error', () => {});
    input.end(plan);
  });
}

function assertHandled(o: Outcome, what: string): void {
  assert.equal(o.signal, null, `${what}: killed by ${o.signal}\n${o.stderr}`);
  assert.doesNotMatch(o.stderr, /AddressSanitizer|runtime error|LeakSanitizer/, `${what}: sanitizer report`);
  if (o.code === 0) {
    assert.equal(o.reports.length, 0, `${what}: accepted plans produce no report`);
    return;
  }
  assert.equal(o.code, 125, `${what}: exit ${o.code}\n${o.stderr}`);
  assert.equal(o.reports.length, REPORT_SIZE, `${what}: exactly one structured report`);
  const r = decodeReport(o.reports);
  assert.equal(r.type, 'error', what);
  if (r.type === 'error') assert.equal(STEP[r.step], STEP.DECODE, `${what}: step ${r.step}`);
}

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

before(() => {
  const make = spawnSync('make', ['-C', join(ROOT, 'native'), 'asan'], { encoding: 'utf8' });
  assert.equal(make.status, 0, `building the ASan launcher failed (needs gcc with libasan):\n${make.stderr}`);
});

test('the valid plan is accepted', async () => {
  const o = await check(ASAN, validPlan());
  assert.equal(o.code, 0, o.stderr);
  assert.equal(o.reports.length, 0);
});

test('output relays: the known outputs are accepted; no output, another bit, a short record or the record twice is refused', async () => {
  assert.equal((await check(ASAN, validPlan(['stdout', 'stderr']))).code, 0);
  const relay = (m: number, limit = 0xffffffffffffffffn) => { const b = Buffer.alloc(12); b.writeUInt32LE(m, 0); b.writeBigUInt64LE(limit, 4); return b; };
  assert.equal((await check(ASAN, withRecord(validPlan(), TAG.RELAY, relay(2, 0n)))).code, 0, 'a limit of 0 bytes is a limit');
  for (const [what, plan, reason] of [
    ['no output', withRecord(validPlan(), TAG.RELAY, relay(0)), DECODE_ERROR.BAD_VALUE],
    ['stdin bit', withRecord(validPlan(), TAG.RELAY, relay(1)), DECODE_ERROR.BAD_VALUE],
    ['high bit', withRecord(validPlan(), TAG.RELAY, relay(0x80000000)), DECODE_ERROR.BAD_VALUE],
    ['short record', withRecord(validPlan(), TAG.RELAY, Buffer.alloc(2)), DECODE_ERROR.BAD_RECORD],
    ['mask without a limit', withRecord(validPlan(), TAG.RELAY, relay(2).subarray(0, 4)), DECODE_ERROR.BAD_RECORD],
    ['longer record', withRecord(validPlan(), TAG.RELAY, Buffer.concat([relay(2), Buffer.alloc(1)])), DECODE_ERROR.BAD_RECORD],
    ['twice', withRecord(validPlan(['stdout']), TAG.RELAY, relay(2)), DECODE_ERROR.DUPLICATE],
  ] as const) {
    const o = await check(ASAN, plan);
    assertHandled(o, what);
    assert.equal(o.code, 125, `${what} is refused`);
    const r = decodeReport(o.reports);
    assert.equal(r.type === 'error' && r.errno, reason, what);
  }
});

test('a mount at / itself is refused, whatever its kind (it would cover the new root and every later mount)', async () => {
  const plan = validLaunchPlan();
  const kinds = [...new Set(plan.mounts.map((m) => m.op))];
  assert.ok(kinds.length >= 5, `the plan has mounts of several kinds: ${kinds.join(', ')}`);
  for (const op of kinds) {
    const i = plan.mounts.findIndex((m) => m.op === op);
    const mounts = plan.mounts.map((m, j) => (j === i ? { ...m, target: '/' } : m));
    const o = await check(ASAN, encodePlan({ ...plan, mounts }));
    assertHandled(o, op);
    assert.equal(o.code, 125, `${op} at / is refused`);
    const r = decodeReport(o.reports);
    assert.equal(r.type === 'error' && r.errno, DECODE_ERROR.BAD_PATH, op);
  }
});

test('every truncation of the plan is refused as truncated, not run', async () => {
  const plan = validPlan();
  const cuts = [...new Set([...Array.from({ length: 80 }, (_, i) => i), ...Array.from({ length: 120 }, (_, i) => Math.floor((i * plan.length) / 120)), plan.length - 1])];
  await inBatches(cuts, 8, async (n) => {
    const o = await check(ASAN, plan.subarray(0, n));
    assertHandled(o, `truncated to ${n}`);
    assert.equal(o.code, 125, `truncated to ${n} bytes must not be accepted`);
  });
});

test('a plan without its end record is refused even when the lengths are consistent', async () => {
  const plan = validPlan();
  const noEnd = Buffer.from(plan.subarray(0, plan.length - 8));
  noEnd.writeUInt32LE(noEnd.length, 4);
  const o = await check(ASAN, noEnd);
  assertHandled(o, 'no TAG_END');
  assert.equal(o.code, 125);
});

test('random bytes, with and without a valid header', async () => {
  const inputs: Buffer[] = [];
  for (let i = 0; i < 60; i++) inputs.push(randomBytes(1 + (i * 37) % 600));
  for (let i = 0; i < 60; i++) {
    const body = randomBytes(8 + (i * 53) % 800);
    body.writeUInt32LE(0x31584253, 0);
    body.writeUInt32LE(body.length, 4);
    inputs.push(body);
  }
  await inBatches(inputs, 8, async (b) => assertHandled(await check(ASAN, b), `random ${b.length} bytes`));
});

test('bit flips and record-level mutations of a valid plan', async () => {
  const plan = validPlan();
  const mutants: Buffer[] = [];
  for (let i = 0; i < 200; i++) {
    const m = Buffer.from(plan);
    const pos = 8 + Math.floor(Math.random() * (m.length - 8));
    m[pos] = m[pos]! ^ (1 << Math.floor(Math.random() * 8));
    mutants.push(m);
  }
  // record lengths set to huge values, tags set to unknown values
  for (const value of [0xffffffff, 0x7fffffff, 0x10000, 0]) {
    const m = Buffer.from(plan);
    m.writeUInt32LE(value, 8 + 4);
    mutants.push(m);
  }
  const m = Buffer.from(plan);
  m.writeUInt16LE(999, 8);
  mutants.push(m);
  // a record duplicated (single-valued records must not appear twice)
  const first = plan.subarray(8, 8 + 8 + plan.readUInt32LE(12));
  const dup = Buffer.concat([plan.subarray(0, 8), first, plan.subarray(8)]);
  dup.writeUInt32LE(dup.length, 4);
  mutants.push(dup);
  await inBatches(mutants, 8, async (b) => assertHandled(await check(ASAN, b), 'mutant'));
});

test('the production launcher refuses a truncated plan before doing anything', async () => {
  const plan = validPlan();
  const o = await check(LAUNCHER, plan.subarray(0, plan.length - 3));
  assertHandled(o, 'production, truncated');
  assert.equal(o.code, 125);
  assert.equal(TAG.END, 14);
});
