/**
 * isolate-compatible meta file (`--meta FILE`): key:value lines, so judge front ends written for
 * isolate can switch. Times in seconds with millisecond precision, memory in KiB.
 *
 * `status` keeps to isolate's values — absent when the run was OK, else RE, SG, TO or XX — since front
 * ends switch on them and an unknown one may be read as OK. Our finer statuses map onto what isolate
 * would write for the same run, and are given as they are in an extra key, `sandbox-status`:
 *   - ML: what the workload did (SG for a main process the OOM killer ended, RE for a non-zero exit,
 *     no status for exit 0 when only a child was killed); `cg-oom-killed:1` says why, as in isolate.
 *   - OL: the sandbox killed the workload with SIGKILL: SG, exitsig 9, killed.
 *   - AB: no verdict (aborted by its caller): XX.
 */
import type { Result, Status } from './result.js';

type IsolateStatus = 'RE' | 'SG' | 'TO' | 'XX' | null;

function isolateStatus(r: Result): IsolateStatus {
  switch (r.status as Status) {
    case 'OK': return null;
    case 'ML': return r.signal !== null ? 'SG' : r.workloadExitCode ? 'RE' : null;
    case 'OL': return 'SG';
    case 'AB': return 'XX';
    default: return r.status as IsolateStatus;
  }
}

export function metaFile(r: Result): string {
  const status = isolateStatus(r);
  const lines: [string, string | number][] = [];
  if (r.time.cpuMs !== null) lines.push(['time', (r.time.cpuMs / 1000).toFixed(3)]);
  lines.push(['time-wall', (r.time.wallMs / 1000).toFixed(3)]);
  if (r.memory.maxRssBytes !== null) lines.push(['max-rss', Math.round(r.memory.maxRssBytes / 1024)]);
  if (r.time.contextSwitches !== null) {
    lines.push(['csw-voluntary', r.time.contextSwitches.voluntary], ['csw-forced', r.time.contextSwitches.involuntary]);
  }
  if (r.memory.source.startsWith('memory.') && r.memory.peakBytes !== null) { // a cgroup's figure
    lines.push(['cg-mem', Math.round(r.memory.peakBytes / 1024)]);
  }
  if (r.memory.oomKilled) lines.push(['cg-oom-killed', 1]);
  if (r.workloadExitCode !== null) lines.push(['exitcode', r.workloadExitCode]);
  if (r.signal !== null) lines.push(['exitsig', r.signal]);
  else if (r.status === 'OL') lines.push(['exitsig', 9]);
  // isolate's `killed`: the sandbox killed the program (not the kernel's OOM killer)
  if (r.killed && r.status !== 'ML') lines.push(['killed', 1]);
  if (r.status !== 'OK') lines.push(['message', r.message.replace(/\n/g, ' ')]);
  if (status !== null) lines.push(['status', status]);
  if (status !== r.status && r.status !== 'OK') lines.push(['sandbox-status', r.status]);
  return lines.map(([k, v]) => `${k}:${v}\n`).join('');
}
