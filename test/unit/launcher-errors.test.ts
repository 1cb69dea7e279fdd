/**
 * A launcher failure in words: STEP_JOIN_CGROUP names the plan's cgroup file by its index, and a held
 * launcher's own cgroup (native/main.c HOME_CGROUP_*, indexes past any plan's files) by what it is.
 */
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { test } from 'node:test';
import { failureMessage } from '../../src/launch/launcher-errors.js';
import { buildPlan } from '../../src/launch/plan.js';
import { PLAN_MAX } from '../../src/launch/wire.js';
import { request } from './fixtures.js';

test('JOIN_CGROUP: the plan\'s cgroup file by index; the held launcher\'s own cgroup by name', () => {
  const plan = buildPlan(request({ cgroupProcs: ['/sys/fs/cgroup/memory/sandbox/r1/cgroup.procs'] }));
  const at = (index: number) => failureMessage({ step: 'JOIN_CGROUP', errno: constants.errno.EACCES, index }, plan);
  assert.match(at(0), /^cannot join cgroup \/sys\/fs\/cgroup\/memory\/sandbox\/r1\/cgroup\.procs: /);
  assert.match(at(PLAN_MAX.ITEMS), /^cannot find the launcher's own cgroup in \/proc\/self\/cgroup: /);
  assert.match(at(PLAN_MAX.ITEMS + 1), /^cannot move the launcher back to its own cgroup: /);
});
