/**
 * The launcher's plan limits (native/launcher.h PLAN_MAX_*) and checkPlanLimits (src/launch/wire.ts),
 * which refuses a plan past one before the launch: at each limit the launcher's decoder accepts the
 * plan and checkPlanLimits lets it through, one byte or one entry past it both refuse it — so that no
 * input reaches the launcher only to be reported as a malformed plan ("this is a bug"). Decoded by the
 * real launcher (--check-plan: decode and exit), so no privilege is needed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SandboxError } from '../../src/errors.js';
import { buildPlan } from '../../src/launch/plan.js';
import type { LaunchPlan, MountOp } from '../../src/launch/types.js';
import { checkPlanLimits, DECODE_ERROR, encodePlan, PLAN_MAX } from '../../src/launch/wire.js';
import { request } from '../unit/fixtures.js';
import { runLauncher } from '../helpers/launcher.js';

/** The launcher's verdict on a plan: null (accepted) or its decode error. */
async function launcherDecodes(plan: Buffer): Promise<number | null> {
  const { code, reports, stderr } = await runLauncher(plan, ['--check-plan']);
  if (code === 0) return null;
  const r = reports[0];
  if (code !== 125 || r?.type !== 'error' || r.step !== 'DECODE') throw new Error(`launcher: exit ${code}, ${JSON.stringify(r)}: ${stderr}`);
  return r.errno;
}

const base = (): LaunchPlan => buildPlan(request());
const dirs = (n: number): MountOp[] => Array.from({ length: n }, (_, i) => ({ op: 'dir', target: `/d${i}`, mode: 0o755 }));
const entries = (n: number): string[] => Array.from({ length: n }, (_, i) => `E${i}=`);

/** The plan grown by environment entries to exactly `size` encoded bytes (with the relay record,
 * which checkPlanLimits otherwise reserves room for). */
function planOfSize(size: number): LaunchPlan {
  const plan: LaunchPlan = { ...base(), relay: ['stdout'] };
  let missing = size - checkPlanLimits(plan);
  const env = [...plan.env];
  for (let i = 0; missing > 0; i++) {
    const record = Math.min(missing, 8 + 100_000);
    const value = record - 8 - `P${i}=`.length;
    assert.ok(value >= 0, 'the padding ends on a whole record');
    env.push(`P${i}=${'x'.repeat(value)}`);
    missing -= record;
  }
  return { ...plan, env };
}

/** [what, the plan at the limit (over = 0) or one byte or entry past it (over = 1)] */
const cases: [string, (over: number) => LaunchPlan][] = [
  ['one argument of PLAN_MAX.ARG bytes', (o) => ({ ...base(), argv: ['/bin/sh', 'a'.repeat(PLAN_MAX.ARG + o)] })],
  ['PLAN_MAX.ARGS arguments', (o) => ({ ...base(), argv: Array.from({ length: PLAN_MAX.ARGS + o }, () => 'a') })],
  ['one environment entry of PLAN_MAX.ARG bytes', (o) => ({ ...base(), env: [`E=${'x'.repeat(PLAN_MAX.ARG - 2 + o)}`] })],
  ['PLAN_MAX.ARGS environment entries', (o) => ({ ...base(), env: entries(PLAN_MAX.ARGS + o) })],
  ['a hostname of PLAN_MAX.HOSTNAME bytes', (o) => ({ ...base(), hostname: 'h'.repeat(PLAN_MAX.HOSTNAME + o) })],
  ['a mount target of PLAN_MAX.STRING bytes', (o) => ({ ...base(), mounts: [...base().mounts, { op: 'dir', target: `/${'a'.repeat(PLAN_MAX.STRING - 1 + o)}`, mode: 0o755 }] })],
  ['a working directory of PLAN_MAX.STRING bytes', (o) => ({ ...base(), cwd: `/${'c'.repeat(PLAN_MAX.STRING - 1 + o)}` })],
  ['a symlink target of PLAN_MAX.STRING bytes', (o) => ({ ...base(), mounts: [...base().mounts, { op: 'symlink', target: '/l', linkTo: 'l'.repeat(PLAN_MAX.STRING + o) }] })],
  ['a file of PLAN_MAX.DATA bytes', (o) => ({ ...base(), mounts: [...base().mounts, { op: 'file', target: '/f', mode: 0o644, content: 'f'.repeat(PLAN_MAX.DATA + o) }] })],
  ['PLAN_MAX.ITEMS mounts', (o) => { const p = base(); return { ...p, mounts: [...p.mounts, ...dirs(PLAN_MAX.ITEMS - p.mounts.length + o)] }; }],
  ['a plan of PLAN_MAX.BYTES bytes', (o) => planOfSize(PLAN_MAX.BYTES + o)],
];

describe('plan limits: the launcher and checkPlanLimits agree', { timeout: 120_000 }, () => {
  for (const [what, make] of cases) {
    test(what, async () => {
      const at = make(0);
      assert.equal(checkPlanLimits(at), encodePlan(at).length, 'checkPlanLimits lets it through, and counts its bytes');
      assert.equal(await launcherDecodes(encodePlan(at)), null, 'the launcher accepts it');
      const past = make(1);
      assert.throws(() => checkPlanLimits(past), (e: unknown) => e instanceof SandboxError && e.code === 'USAGE' && !e.message.includes('\n'));
      const refused = await launcherDecodes(encodePlan(past));
      assert.ok(refused !== null && refused !== DECODE_ERROR.OK, 'the launcher refuses one past the limit');
    });
  }
});
