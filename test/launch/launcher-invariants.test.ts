/**
 * Invariants the launcher enforces itself, whatever plan it is given: as root it never runs a sandbox
 * without a locked uid slot, and it never maps host root (the decoder refuses host id 0).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { buildPlan } from '../../src/launch/plan.js';
import { decodeReport, encodePlan, REPORT_SIZE } from '../../src/launch/wire.js';
import { LAUNCHER } from '../helpers/cli.js';
import { request } from '../unit/fixtures.js';

function launch(plan: Buffer): Promise<{ code: number | null; reports: Buffer }> {
  return new Promise((resolve, reject) => {
    const child = spawn(LAUNCHER, [], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    const reports: Buffer[] = [];
    (child.stdio[4] as NodeJS.ReadableStream).on('data', (c: Buffer) => reports.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, reports: Buffer.concat(reports) }));
    (child.stdio[3] as NodeJS.WritableStream).end(plan);
  });
}

function firstError(reports: Buffer): { step: string; errno: number } {
  for (let o = 0; o + REPORT_SIZE <= reports.length; o += REPORT_SIZE) {
    const r = decodeReport(reports.subarray(o, o + REPORT_SIZE));
    if (r.type === 'error') return { step: r.step, errno: r.errno };
  }
  assert.fail('no error report');
}

test('as root, a plan without uid slots is refused before anything is created', async () => {
  assert.equal(process.geteuid!(), 0, 'this test runs as root (CI does)');
  const plan = buildPlan(request({ hostIds: { uid: 1879048192, gid: 1879048192 }, uidSlots: null }));
  const r = await launch(encodePlan(plan));
  assert.equal(r.code, 125);
  assert.deepEqual(firstError(r.reports), { step: 'UID_SLOT', errno: 22 });
});

test('a plan mapping the workload to host uid 0 is refused by the decoder', async () => {
  const plan = buildPlan(request({ hostIds: { uid: 0, gid: 0 } }));
  const r = await launch(encodePlan(plan));
  assert.equal(r.code, 125);
  assert.equal(firstError(r.reports).step, 'DECODE');
});
