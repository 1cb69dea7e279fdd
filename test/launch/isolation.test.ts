/**
 * The isolation promises of `sandbox exec`, checked for real as root and as an unprivileged user:
 * identity, pid namespace, network, filesystem view, read-only binds, workspace ownership, fds,
 * capabilities, no_new_privs, controlling terminal.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CLI, modes, sandboxExec, tempDirFor, userIds } from '../helpers/cli.js';

const UID_RANGE_START = 0x70000000;

for (const mode of modes()) {
  describe(`isolation (${mode.name})`, () => {
    const run = (cmd: string[], args: string[] = []) => sandboxExec(cmd, args, { user: mode.user });

    test('echo works and its output passes through', async () => {
      const r = await run(['/bin/echo', 'hello']);
      assert.equal(r.stdout, 'hello\n');
      assert.equal(r.code, 0);
    });

    test('the workload is an unprivileged identity, never host root', async () => {
      const r = await run(['sh', '-c', 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map']);
      assert.equal(r.code, 0, r.stderr);
      const [uid, gid, uidMap, gidMap] = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/));
      assert.deepEqual([uid, gid], [['1000'], ['1000']]);
      // one line, one id: inside 1000 → a single host id
      assert.equal(uidMap![0], '1000');
      assert.equal(uidMap![2], '1');
      const hostUid = Number(uidMap![1]);
      assert.notEqual(hostUid, 0);
      assert.notEqual(Number(gidMap![1]), 0);
      if (mode.user) assert.equal(hostUid, userIds(mode.user).uid);
      else assert.ok(hostUid >= UID_RANGE_START && hostUid < UID_RANGE_START + 65536, `host uid ${hostUid} is in the sandbox range`);
    });

    test('pid namespace: init is pid 1, the workload pid 2, no host process visible', async () => {
      const r = await run(['sh', '-c', 'echo $$; cat /proc/1/comm; ls /proc | grep -E "^[0-9]+$" | sort -n | tr "\\n" " "']);
      assert.equal(r.code, 0, r.stderr);
      const [self, initComm, pids] = r.stdout.trim().split('\n');
      assert.equal(self, '2');
      assert.equal(initComm, 'sandbox-launche');
      // 1 = init, 2 = sh, 3.. = ls/grep/sort/tr: nothing else
      const seen = pids!.trim().split(' ').map(Number);
      assert.ok(seen.every((p) => p <= 8), `only the sandbox's processes: ${pids}`);
      assert.ok(seen.includes(1) && seen.includes(2));
    });

    test("init's command line names it and holds no host pid (it held the supervisor's)", async () => {
      const r = await run(['cat', '/proc/1/cmdline']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.replace(/\0+$/, ''), 'sandbox-init');
    });

    test('network: only lo, and it is up', async () => {
      const r = await run(['sh', '-c', 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "; cat /sys/class/net/lo/operstate 2>/dev/null; ping -c1 -W1 127.0.0.1 >/dev/null 2>&1; true']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n').filter(Boolean), ['lo']);
    });

    test("the host's tree is not visible: a generated root with read-only host dirs", async () => {
      const r = await run(['sh', '-c', 'ls -A /; echo --; ls -A /etc; echo --; ls /home /root /var /sys /boot 2>&1 | wc -l']);
      assert.equal(r.code, 0, r.stderr);
      const [root, etc] = r.stdout.split('--\n');
      const entries = root!.trim().split('\n');
      assert.deepEqual(entries.filter((e) => !['bin', 'dev', 'etc', 'lib', 'lib32', 'lib64', 'libx32', 'proc', 'sbin', 'tmp', 'usr'].includes(e)), []);
      const etcEntries = etc!.trim().split('\n');
      assert.ok(!etcEntries.includes('shadow') && !etcEntries.includes('ssh'), `generated /etc only: ${etcEntries}`);
      assert.ok(etcEntries.includes('passwd') && etcEntries.includes('hosts'));
      assert.match(readFileSync('/etc/passwd', 'utf8'), /^root:/); // the host has more than we show
    });

    test('read-only binds refuse writes with EROFS; "/" itself is read-only', async () => {
      const r = await run(['sh', '-c', 'touch /usr/sbx-test 2>&1; touch /sbx-test 2>&1; echo ok > /tmp/x && cat /tmp/x']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((r.stdout.match(/Read-only file system/g) ?? []).length, 2, r.stdout);
      assert.match(r.stdout, /^ok$/m);
    });

    test('a rw workspace bind receives the output with the invoking user\'s ownership', async () => {
      // Rootless the workload is the invoking user. As root it is a slot uid, and the writable bind is
      // idmapped: the workspace's owner (root here) owns what the workload writes, as the workload
      // owns the workspace inside.
      const work = tempDirFor(mode.user);
      try {
        const r = await run(['sh', '-c', 'echo x > out.txt; stat -c %u /work'], ['--bind', `${work.path}:/work:rw`, '--workdir', '/work']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.trim(), '1000', 'inside, the workspace belongs to the sandbox user');
        const out = join(work.path, 'out.txt');
        assert.equal(readFileSync(out, 'utf8'), 'x\n');
        assert.equal(statSync(out).uid, mode.user ? userIds(mode.user).uid : 0);
      } finally {
        work.cleanup();
      }
    });

    test('setuid and setgid bits cannot be set, in a writable bind or anywhere', async () => {
      const work = tempDirFor(mode.user);
      try {
        const r = await run(['sh', '-c', 'echo x > f; chmod u+s f; echo "suid=$?"; chmod g+s f; echo "sgid=$?"; mkdir -m 2755 d; echo "mkdir=$?"; ls -l f'], ['--bind', `${work.path}:/work:rw`, '--workdir', '/work']);
        assert.match(r.stdout, /suid=1/);
        assert.match(r.stdout, /sgid=1/);
        assert.match(r.stdout, /mkdir=1/);
        assert.match(r.stderr, /Operation not permitted/);
        assert.equal(statSync(join(work.path, 'f')).mode & 0o6000, 0, 'no setid bit reached the host file');
      } finally {
        work.cleanup();
      }
    });

    test('a read-only bind (the default mode) cannot be written', async () => {
      const work = tempDirFor(mode.user);
      try {
        writeFileSync(join(work.path, 'in.txt'), 'data\n');
        spawnSync('chmod', ['-R', 'a+rwX', work.path]);
        const r = await run(['sh', '-c', 'cat /data/in.txt; echo y > /data/in.txt'], ['--bind', `${work.path}:/data`]);
        assert.notEqual(r.code, 0);
        assert.match(r.stdout, /^data$/m);
        assert.match(r.stderr, /Read-only file system/);
        assert.equal(readFileSync(join(work.path, 'in.txt'), 'utf8'), 'data\n');
      } finally {
        work.cleanup();
      }
    });

    test('only fds 0, 1 and 2 are open in the workload', async () => {
      // no pipeline: while a shell sets one up it briefly holds the pipe fds itself
      const r = await run(['sh', '-c', 'ls /proc/$$/fd']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split(/\s+/).map(Number).sort((a, b) => a - b), [0, 1, 2]);
    });

    test('the workload starts with no signal blocked or ignored', async () => {
      // the CLI starts the launcher with posix_spawn, which leaves glibc's signals 32 and 33 ignored
      const r = await run(['/bin/grep', '-E', '^Sig(Blk|Ign):', '/proc/self/status']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^SigBlk:\s+0{16}$/m);
      assert.match(r.stdout, /^SigIgn:\s+0{16}$/m);
    });

    test('all capability sets are empty, no_new_privs is set, securebits are locked', async () => {
      const r = await run(['sh', '-c', 'grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)" /proc/self/status']);
      assert.equal(r.code, 0, r.stderr);
      const fields = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(/:\s+/)));
      for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.equal(fields[set], '0000000000000000', set);
      assert.equal(fields['NoNewPrivs'], '1');
    });

    test('/proc: sensitive files masked, /proc/sys read-only', async () => {
      const r = await run(['sh', '-c', 'cat /proc/kcore 2>&1 | head -c 100; echo; cat /proc/timer_list 2>&1 | head -c 100; echo; (echo 1 > /proc/sys/kernel/domainname) 2>&1; cat /proc/self/status | head -1']);
      assert.doesNotMatch(r.stdout, /ELF|Timer List/);
      assert.match(r.stdout, /Read-only file system/);
      assert.match(r.stdout, /^Name:/m);
    });

    test('no controlling terminal: TIOCSTI into a terminal on stdin fails', async () => {
      // script(1) gives the CLI a pty as stdin and controlling tty; the workload must not be able to
      // push input into it.
      const prog = 'import fcntl,termios,os\ntry:\n  fcntl.ioctl(0, termios.TIOCSTI, b"x"); print("INJECTED")\nexcept OSError as e: print("refused", e.errno)\nprint("tty_nr", open("/proc/self/stat").read().split()[6])';
      const inner = [process.execPath, CLI, 'exec', '--', 'python3', '-c', prog].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
      const cmd = mode.user ? `runuser -u ${mode.user} -- ${inner}` : inner;
      const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 60_000 });
      assert.match(r.stdout, /refused \d+/, r.stdout + r.stderr);
      assert.doesNotMatch(r.stdout, /INJECTED/);
      assert.match(r.stdout, /tty_nr 0/);
    });

    test('stdin and stdout work in a pipe', async () => {
      const r = await sandboxExec(['tr', 'a-z', 'A-Z'], [], { user: mode.user, input: 'piped text\n' });
      assert.equal(r.stdout, 'PIPED TEXT\n');
    });
  });
}
