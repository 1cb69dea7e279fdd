/**
 * isolate-compatible meta file (`--meta FILE`): key:value lines, so judge front ends written for
 * isolate can switch. Times in seconds with millisecond precision, memory in KiB. Like isolate,
 * `status` is absent when the run was OK; beyond isolate's RE/SG/TO/XX it can be ML, OL and AB.
 */
import type { Result } from './result.js';

export function metaFile(r: Result): string {
  const lines: [string, string | number][] = [];
  if (r.time.cpuMs !== null) lines.push(['time', (r.time.cpuMs / 1000).toFixed(3)]);
  lines.push(['time-wall', (r.time.wallMs / 1000).toFixed(3)]);
  if (r.memory.maxRssBytes !== null) lines.push(['max-rss', Math.round(r.memory.maxRssBytes / 1024)]);
  if (r.memory.source !== 'rusage max-rss' && r.memory.source !== 'none' && r.memory.peakBytes !== null) {
    lines.push(['cg-mem', Math.round(r.memory.peakBytes / 1024)]);
  }
  if (r.memory.oomKilled) lines.push(['cg-oom-killed', 1]);
  if (r.workloadExitCode !== null) lines.push(['exitcode', r.workloadExitCode]);
  if (r.signal !== null) lines.push(['exitsig', r.signal]);
  if (r.killed) lines.push(['killed', 1]);
  if (r.status !== 'OK') {
    lines.push(['message', r.message.replace(/\n/g, ' ')]);
    lines.push(['status', r.status]);
  }
  return lines.map(([k, v]) => `${k}:${v}\n`).join('');
}
