/**
 * The meta file speaks isolate's language: `status` is only ever one of isolate's RE, SG, TO, XX (or
 * absent for OK), because front ends written for isolate switch on it and may read an unknown value as
 * OK; our own ML, OL and AB are mapped to what isolate would say and given in `sandbox-status`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { metaFile } from '../../src/launch/meta.js';
import type { Result } from '../../src/launch/result.js';

function result(over: Partial<Result>): Result {
  return {
    status: 'OK', message: 'ok', exitCode: 0, workloadExitCode: 0, signal: null, killed: false, killReason: null, error: null,
    time: { cpuMs: 12, wallMs: 34, cpuSource: 'rusage', setupCpuMs: 1, contextSwitches: null },
    memory: { peakBytes: 2048, source: 'rusage max-rss', maxRssBytes: 2048, oomKilled: false },
    limits: {},
    ...over,
  } as Result;
}

const keys = (text: string) => Object.fromEntries(text.trim().split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]));

test('meta: statuses isolate knows are written as they are; OK has no status', () => {
  assert.equal(keys(metaFile(result({})))['status'], undefined);
  for (const status of ['RE', 'SG', 'TO', 'XX'] as const) {
    const k = keys(metaFile(result({ status, message: 'm' })));
    assert.equal(k['status'], status);
    assert.equal(k['sandbox-status'], undefined);
  }
});

test('meta: ML is what isolate would say for what the workload did, with cg-oom-killed and sandbox-status', () => {
  const oom = { status: 'ML', message: 'memory limit exceeded', killed: true, killReason: 'memory', memory: { peakBytes: 64 << 20, source: 'memory.peak', maxRssBytes: 64 << 20, oomKilled: true } } as const;
  const killedMain = keys(metaFile(result({ ...oom, workloadExitCode: null, signal: 9 })));
  assert.deepEqual([killedMain['status'], killedMain['exitsig'], killedMain['cg-oom-killed'], killedMain['sandbox-status'], killedMain['killed']], ['SG', '9', '1', 'ML', undefined]);
  const failedMain = keys(metaFile(result({ ...oom, workloadExitCode: 1 })));
  assert.deepEqual([failedMain['status'], failedMain['sandbox-status']], ['RE', 'ML']);
  // only a child was OOM-killed and the main process exited 0: isolate writes no status
  const childOnly = keys(metaFile(result({ ...oom, workloadExitCode: 0 })));
  assert.deepEqual([childOnly['status'], childOnly['cg-oom-killed'], childOnly['sandbox-status'], childOnly['killed']], [undefined, '1', 'ML', undefined]);
});

test('meta: OL is SG by SIGKILL (the sandbox killed it), AB is XX; both keep their own status in sandbox-status', () => {
  const ol = keys(metaFile(result({ status: 'OL', message: 'output limit exceeded (1024 bytes)', workloadExitCode: null, killed: true, killReason: 'output' })));
  assert.deepEqual([ol['status'], ol['exitsig'], ol['killed'], ol['sandbox-status']], ['SG', '9', '1', 'OL']);
  const ab = keys(metaFile(result({ status: 'AB', message: 'aborted', workloadExitCode: null, killed: true, killReason: 'aborted' })));
  assert.deepEqual([ab['status'], ab['killed'], ab['sandbox-status']], ['XX', '1', 'AB']);
});

test('meta: context switches are isolate\'s csw-voluntary and csw-forced, after max-rss as isolate writes them; none when unknown', () => {
  const text = metaFile(result({ time: { cpuMs: 12, wallMs: 34, cpuSource: 'rusage', setupCpuMs: 1, contextSwitches: { voluntary: 5, involuntary: 2 } } }));
  assert.match(text, /^time:0\.012\ntime-wall:0\.034\nmax-rss:2\ncsw-voluntary:5\ncsw-forced:2\nexitcode:0\n$/);
  const none = keys(metaFile(result({})));
  assert.equal('csw-voluntary' in none || 'csw-forced' in none, false);
});
