/**
 * Removing the lock files of uid slots that no sandbox holds (`sandbox doctor --clean`). A run only
 * ever creates the files of the lowest free slots, so the directory stays as small as the number of
 * sandboxes that ran at once — but older versions, or a very busy day, can leave many.
 *
 * Safe against a launcher taking a slot at the same moment: a file is unlinked only while we hold its
 * lock, and a launcher counts its lock only if the path still names the file it locked
 * (native/uid_slot.c), so it retries on the file that replaces a removed one. Root only: the directory
 * is root's (0700).
 */
import { closeSync, constants, lstatSync, openSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { LOCK_DIR } from './uid-slots.js';

export interface SlotClean {
  /** lock files removed */
  removed: number;
  /** lock files kept because a sandbox holds them */
  held: number;
}

export async function cleanUnusedUidSlots(dir = LOCK_DIR): Promise<SlotClean> {
  const result: SlotClean = { removed: 0, held: 0 };
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return result; // no directory: no sandbox ran as root since boot
  }
  const { tryLockExclusive } = await import('./libc.js');
  for (const name of names) {
    // only what the launcher makes: a regular file named by a uid (never follow a link)
    if (!/^[0-9]+$/.test(name)) continue;
    const path = join(dir, name);
    let fd: number;
    try {
      if (!lstatSync(path).isFile()) continue;
      fd = openSync(path, constants.O_RDWR | constants.O_NOFOLLOW); // (libuv adds O_CLOEXEC)
    } catch {
      continue; // removed meanwhile
    }
    try {
      if (!tryLockExclusive(fd)) {
        result.held += 1;
        continue;
      }
      unlinkSync(path); // under the lock: a launcher that opened it meanwhile sees it gone and retries
      result.removed += 1;
    } catch { /* removed meanwhile */ } finally {
      closeSync(fd);
    }
  }
  return result;
}
