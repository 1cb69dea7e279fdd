/**
 * Does a compiled seccomp program refuse setuid/setgid mode bits? Checked on the program itself, with
 * the generator's interpreter — not on the policy text — because it decides whether a writable bind
 * may be idmapped as root (native/idmap.c): through such a bind, files the workload creates belong on
 * the host to the workspace's owner, possibly root, and a setuid bit there would be a privilege for
 * anyone who later runs that file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TargetArch } from '../seccomp/arch.js';
import { programDigest, writeCacheFile } from './seccomp.js';

/** Answers by program: a process runs the same few programs many times (one check, not one per run). */
const answers = new Map<string, boolean>();

/** Raised whenever setid-check.ts changes its answers: answers cached on disk by an older one are not used. */
const GUARD_VERSION = 2;

/**
 * The check runs the filter ~1000 times (some 40 ms in a fresh process), so a `sandbox exec` keeps the
 * answer next to the seccomp program cache (`cacheDir`: the trusted directory of src/launch/seccomp.ts,
 * which holds the programs handed to the kernel — an answer there is trusted as much as they are). An
 * entry holds the program it answers for and is used only for exactly those bytes. The check itself
 * (setid-check.ts, with the interpreter and the syscall tables) is loaded only when the answer is not
 * known: loading them was ~5 ms of every CLI start with a writable bind as root.
 */
export async function filterRefusesSetidBits(program: Buffer, arch: TargetArch, cacheDir: string | null = null): Promise<boolean> {
  const key = `${arch}:${program.toString('base64')}`;
  let answer: boolean | null | undefined = answers.get(key);
  if (answer === undefined) {
    const file = cacheDir ? join(cacheDir, `setid-v${GUARD_VERSION}-${arch}-${programDigest(program)}.json`) : null;
    answer = file ? readAnswer(file, key) : null;
    if (answer === null) {
      answer = (await import('./setid-check.js')).check(program, arch);
      if (file) writeCacheFile(cacheDir!, file, JSON.stringify({ key, refused: answer }));
    }
    answers.set(key, answer);
  }
  return answer;
}

function readAnswer(file: string, key: string): boolean | null {
  try {
    const e = JSON.parse(readFileSync(file, 'utf8')) as { key?: unknown; refused?: unknown };
    return e.key === key && typeof e.refused === 'boolean' ? e.refused : null;
  } catch {
    return null; // none yet, or damaged: check again
  }
}
