/**
 * Invariants the launcher enforces itself, whatever plan it is given: as root it never runs a sandbox
 * without a locked uid slot, and it never maps host root (the decoder refuses host id 0).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildPlan } from '../../src/launch/plan.js';
import { encodePlan, type LauncherReport } from '../../src/launch/wire.js';
import { runLauncher } from '../helpers/launcher.js';
import { request } from '../unit/fixtures.js';

function firstError(reports: LauncherReport[]): { step: string; errno: number } {
  const r = reports.find((x) => x.type === 'error');
  if (r?.type !== 'error') assert.fail('no error report');
  return { step: r.step, errno: r.errno };
}

test('as root, a plan without uid slots is refused before anything is created', async () => {
  assert.equal(process.geteuid!(), 0, 'this test runs as root (CI does)');
  const plan = buildPlan(request({ hostIds: { uid: 1879048192, gid: 1879048192 }, uidSlots: null }));
  const r = await runLauncher(encodePlan(plan));
  assert.equal(r.code, 125);
  assert.deepEqual(firstError(r.reports), { step: 'UID_SLOT', errno: 22 });
});

test('a plan mapping the workload to host uid 0 is refused by the decoder', async () => {
  const plan = buildPlan(request({ hostIds: { uid: 0, gid: 0 } }));
  const r = await runLauncher(encodePlan(plan));
  assert.equal(r.code, 125);
  assert.equal(firstError(r.reports).step, 'DECODE');
});

test('a uid slot range that would wrap round to host uid 0 is refused by the decoder', async () => {
  // first + count - 1 past 0xFFFFFFFE: slot uids 0xFFFFFFFF ((uid_t)-1), then 0 (host root). The
  // decoder's check once computed this bound in 32 bits, where it wrapped and let every count pass.
  const launch = async (first: number, count: number) => {
    const plan = buildPlan(request({ hostIds: { uid: 1879048192, gid: 1879048192 }, uidSlots: { first, count, lockDir: '/nonexistent/slots' } }));
    const r = await runLauncher(encodePlan(plan));
    assert.equal(r.code, 125, `${first}+${count}`);
    return firstError(r.reports).step;
  };
  assert.equal(await launch(0xffffffff, 2), 'DECODE');
  assert.equal(await launch(0xffffffff, 1), 'DECODE');
  assert.equal(await launch(0xfffffff0, 0x20), 'DECODE');
  // control: the highest range allowed (its last uid 0xFFFFFFFE) passes the decoder, and fails later
  // only for want of its lock directory
  assert.equal(await launch(0xfffffff0, 0x0f), 'UID_SLOT');
});
