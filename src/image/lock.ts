/**
 * Inter-process locks for the store: a lock file created with O_EXCL holding the owner's pid.
 * A lock whose owner is dead (crash) is broken. Locks only avoid duplicate work: correctness of
 * the store never depends on them, because an image becomes visible only through one atomic
 * rename of a complete directory (see store.ts); if two importers ever both unpack, the second
 * rename fails and that importer reuses the first one's image.
 */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { SandboxError } from '../errors.js';

export function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ownerOf(file: string): number | undefined {
  try {
    return Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
  } catch {
    return undefined;
  }
}

/** Runs `fn` holding the lock `file`; waits (polling) while another live process holds it. */
export async function withLock<T>(file: string, fn: () => Promise<T>, opts: { timeoutMs?: number; onWait?: () => void } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30 * 60_000);
  let waited = false;
  for (;;) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx', mode: 0o600 });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = ownerOf(file);
    if (owner !== undefined && !Number.isNaN(owner) && !pidAlive(owner)) {
      // Break a dead owner's lock by renaming it away (atomic; only one breaker wins).
      const stale = `${file}.stale-${randomBytes(6).toString('hex')}`;
      try {
        fs.renameSync(file, stale);
        fs.rmSync(stale, { force: true });
      } catch {
        /* someone else broke it */
      }
      continue;
    }
    if (Date.now() > deadline) {
      throw new SandboxError('IMAGE', `timed out waiting for lock ${file} held by pid ${owner}`, { reason: 'lock-timeout', file });
    }
    if (!waited) {
      waited = true;
      opts.onWait?.();
    }
    await sleep(100);
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(file, { force: true });
  }
}
