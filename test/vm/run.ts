/**
 * Manual entry point: run one command in the cgroup v2 VM and print its output.
 *   node dist/test/vm/run.js [--user sbxtest] -- <command...>
 * With --user the command runs as that user inside a delegated cgroup. Exit status: the command's.
 */
import { execFileSync } from 'node:child_process';
import { runInVm, type VmUser } from './harness.js';

async function main(argv: string[]): Promise<number> {
  const dash = argv.indexOf('--');
  if (dash < 0 || dash === argv.length - 1) {
    process.stderr.write('usage: node dist/test/vm/run.js [--user NAME] -- <command...>\n');
    return argv.length === 0 ? 0 : 2; // no arguments: print usage only (harmless if a test runner loads this file)
  }
  let user: VmUser | undefined;
  const ui = argv.indexOf('--user');
  if (ui >= 0 && ui < dash) {
    const name = argv[ui + 1]!;
    const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
    user = { name, uid: id('-u'), gid: id('-g') };
  }
  const command = argv.slice(dash + 1).join(' ');
  const run = await runInVm([{ name: 'cmd', command, ...(user ? { user } : {}) }]);
  const job = run.jobs[0]!;
  process.stdout.write(job.output);
  if (job.exitCode === null) process.stderr.write(`VM did not finish the command (timed out: ${run.timedOut}); console:\n${run.console}\n`);
  process.stderr.write(`[vm: ${run.durationMs} ms]\n`);
  return job.exitCode ?? 125;
}

main(process.argv.slice(2)).then((code) => process.exit(code));
