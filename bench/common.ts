/**
 * What the benchmarks share: the peer they compare with (bubblewrap's command line) and how a
 * spawned child's page faults are counted.
 */
import { existsSync, lstatSync, readFileSync, readlinkSync } from 'node:fs';

/** bwrap with a read-only /usr and the merged-/usr symlinks this host has (or binds where it has dirs). */
export function bwrapArgs(): string[] {
  const args = ['--unshare-all', '--ro-bind', '/usr', '/usr'];
  for (const d of ['/bin', '/lib', '/lib64', '/sbin']) {
    if (!existsSync(d)) continue;
    const st = lstatSync(d);
    if (st.isSymbolicLink()) args.push('--symlink', readlinkSync(d), d);
    else if (st.isDirectory()) args.push('--ro-bind', d, d);
  }
  return [...args, '--proc', '/proc', '--dev', '/dev', '/bin/true'];
}

/** Minor page faults of this process's reaped children so far (cminflt, field 11 of /proc/self/stat). */
export function childFaults(): number {
  const stat = readFileSync('/proc/self/stat', 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[8]);
}
