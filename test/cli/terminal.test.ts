/**
 * The caller's terminal after a run (native/terminal.c): a workload given the caller's terminal can
 * change its settings (echo off, raw mode). Whatever it did, they are put back when the run ends —
 * also when the workload is killed for its time limit, when nothing of it could restore them.
 *
 * Through the library, in a process that goes on after the run (a judge, a REPL), which is where this
 * matters: Node itself puts its stdio terminals back when it exits, so after `sandbox exec` the shell
 * would find them restored anyway, and a test of the CLI alone could not tell. The settings are read
 * with `stty -g` while the process still runs.
 *
 * A real pseudo-terminal (python3's pty module), made the process's controlling terminal with the
 * process in its foreground process group, as an interactive shell runs a command. As root and
 * rootless, through the zygote and through a spawned launcher.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { commandFor, modes, ROOT, tempDirFor } from '../helpers/cli.js';

/** Runs argv on a new pty as its controlling terminal; prints what it wrote there. */
const ON_A_TERMINAL = `
import fcntl, os, pty, select, sys, termios
master, slave = pty.openpty()
pid = os.fork()
if pid == 0:
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.execvp(sys.argv[1], sys.argv[1:])
out, status = b'', None
while status is None:
    if select.select([master], [], [], 0.05)[0]:
        out += os.read(master, 65536)
    done, st = os.waitpid(pid, os.WNOHANG)
    if done:
        status = os.waitstatus_to_exitcode(st)
while select.select([master], [], [], 0)[0]:
    out += os.read(master, 65536)
sys.stdout.write(out.decode(errors='replace'))
sys.exit(status)
`;

/** The workload turns echo and canonical mode off, and says what it sees then. */
const CHANGE = 'stty -echo -icanon; stty -a | grep -o -- "-echo " | head -1 | sed "s/^/inside: /"';

const dirs = tempDirFor(null, 'sbx-terminal-');
after(() => dirs.cleanup());

/** A script that runs `command` through run() and prints the terminal's settings before and after. */
function librarySession(launcher: 'zygote' | 'spawn', command: string[], extra: Record<string, string>): string {
  const file = join(dirs.path, `session-${launcher}-${extra['wallTime'] ? 'killed' : 'exits'}.mjs`);
  writeFileSync(file, [
    `import { run } from ${JSON.stringify(join(ROOT, 'dist/src/api.js'))};`,
    "import { execFileSync } from 'node:child_process';",
    "const settings = () => execFileSync('stty', ['-g'], { stdio: ['inherit', 'pipe', 'inherit'], encoding: 'utf8' }).trim();",
    'const before = settings();',
    `const r = await run({ policy: 'strict', launcher: '${launcher}', command: ${JSON.stringify(command)}, stdin: 'inherit', stdout: 'inherit', stderr: 'inherit', ...${JSON.stringify(extra)} });`,
    'const afterRun = settings();',
    "console.log(JSON.stringify({ status: r.status, restored: before === afterRun, before, after: afterRun }));",
  ].join('\n'), { mode: 0o644 });
  return file;
}

function onTerminal(argv: string[], user: string | null): { code: number | null; out: string } {
  const [cmd, args] = user ? ['runuser', ['-u', user, '--', ...argv]] : [argv[0]!, argv.slice(1)];
  const r = spawnSync('python3', ['-c', ON_A_TERMINAL, cmd, ...args], { encoding: 'utf8', timeout: 60_000, cwd: dirs.path });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('the caller\'s terminal', () => {
  for (const mode of modes()) {
    for (const launcher of ['zygote', 'spawn'] as const) {
      for (const [how, command, extra] of [
        ['exits', ['sh', '-c', CHANGE], {}],
        ['is killed for its wall-time limit', ['sh', '-c', `${CHANGE}; sleep 30`], { wallTime: '1s' }],
      ] as const) {
        test(`${mode.name}, ${launcher}: settings the workload changed are put back when it ${how}`, () => {
          const { code, out } = onTerminal([process.execPath, librarySession(launcher, [...command], extra)], mode.user);
          assert.equal(code, 0, out);
          assert.match(out, /inside: -echo/, `the workload did change them: ${out}`);
          const line = out.split(/\r?\n/).find((l) => l.startsWith('{"status"'));
          assert.ok(line, out);
          const r = JSON.parse(line) as { status: string; restored: boolean; before: string; after: string };
          assert.equal(r.status, extra.wallTime ? 'TO' : 'OK', out);
          assert.equal(r.restored, true, `stty -g after the run (${r.after}) is not what it was before (${r.before})`);
        });
      }
    }

    test(`${mode.name}: after \`sandbox exec\` the shell gets its settings back`, () => {
      const [cmd, args] = commandFor(['exec', '--policy', 'strict', '--', 'sh', '-c', CHANGE], null);
      const { code, out } = onTerminal(['sh', '-c', `before=$(stty -g); "$@"; [ "$(stty -g)" = "$before" ] && echo restored`, 'sh', cmd, ...args], mode.user);
      assert.equal(code, 0, out);
      assert.match(out, /inside: -echo/, out);
      assert.match(out, /^restored\r?$/m, out);
    });

    // The launcher puts the settings back itself; a launcher SIGKILLed mid-run (an OOM kill of the
    // whole cgroup v2 group takes it too, by `kill -9`) cannot. The CLI then does, on its way out.
    test(`${mode.name}: after \`sandbox exec\` whose launcher was SIGKILLed mid-run, the shell gets its settings back`, () => {
      const [cmd, args] = commandFor(['exec', '--policy', 'strict', '--', 'sh', '-c', `${CHANGE}; sleep 30`], null);
      // Without job control, `&` keeps the CLI in the terminal's foreground process group; its stdin
      // would be /dev/null, so it is given the terminal (fd 1) as stdin again.
      const script = [
        'before=$(stty -g)',
        '"$@" <&1 & cli=$!',
        'i=0; while [ "$(stty -g)" = "$before" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done',
        '[ "$(stty -g)" != "$before" ] && echo changed',
        'pkill -KILL -P $cli -f sandbox-launcher && echo killed',
        'wait $cli; echo "cli exited $?"',
        '[ "$(stty -g)" = "$before" ] && echo restored',
      ].join('\n');
      const { code, out } = onTerminal(['sh', '-c', script, 'sh', cmd, ...args], mode.user);
      assert.equal(code, 0, out);
      assert.match(out, /^changed\r?$/m, `the workload did change them: ${out}`);
      assert.match(out, /^killed\r?$/m, out);
      assert.match(out, /^cli exited 125\r?$/m, out);
      assert.match(out, /^restored\r?$/m, out);
    });
  }
});
