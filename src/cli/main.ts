#!/usr/bin/env node
/**
 * `sandbox` command line. Parsing and printing only: each command lives in its own module and is
 * imported lazily, so `sandbox exec` pays only for what it uses (cold start is a benchmarked goal).
 * `sandbox exec`'s usual line is parsed without yargs (exec-fast-path.ts); every other line, and any
 * exec line that parser is not certain of, goes to yargs (yargs-cli.ts), loaded only then.
 */
import { parseExecFast } from './exec-fast-path.js';
import { reportFatal } from './fatal.js';

async function main(argv: string[]): Promise<void> {
  const execArgs = parseExecFast(argv);
  if (execArgs === undefined) {
    await (await import('./yargs-cli.js')).runWithYargs(argv);
    return;
  }
  await (await import('./exec.js')).execHandler(execArgs);
  // `sandbox exec` is finished once its handler returns: run() has released all it took, and what the
  // handler printed has been written (it waits for that). Exiting here skips Node's orderly teardown
  // of the environment and heap (~5-10 ms of every run), and exitNow its exit path (~4 ms more); the
  // status is process.exitCode.
  (await import('../launch/spawn.js')).exitNow();
}

// argv[0] is node, argv[1] this script (yargs' hideBin, for Node)
main(process.argv.slice(2)).catch(reportFatal);
