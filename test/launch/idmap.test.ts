/**
 * As root, writable binds are idmapped only when the run's seccomp filter refuses setuid/setgid bits
 * (src/launch/setid-guard.ts): with a policy without a filter, the workload stays its slot uid on the
 * host and a root-owned workspace is not writable for it. A caller cannot ask for idmapping itself.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { plan } from '../../src/api.js';
import { filterRefusesSetidBits } from '../../src/launch/setid-guard.js';
import { compileSeccomp, hostArch } from '../../src/seccomp/index.js';
import { ROOT, sandboxExec, tempDirFor } from '../helpers/cli.js';

const dir = tempDirFor(null, 'sbx-idmap-');
after(() => dir.cleanup());
const noFilter = join(dir.path, 'no-filter.json');
writeFileSync(noFilter, JSON.stringify({ seccomp: null }));

test('the built-in profiles refuse setid bits; an allow-all filter does not', async () => {
  for (const name of ['strict', 'default']) {
    const p = compileSeccomp({ file: `seccomp/${name}.json` }, { arch: hostArch(), baseDir: join(ROOT, 'policies') });
    assert.equal(await filterRefusesSetidBits(p.program, hostArch()), true, name);
  }
  const open = compileSeccomp({ defaultAction: 'allow' }, { arch: hostArch() });
  assert.equal(await filterRefusesSetidBits(open.program, hostArch()), false);
});

test('a filter that lets the call run in any way does not count as refusing setid bits', async () => {
  // each of these passed the check before: it counted only `allow` as running the call, probed with
  // every other argument 0, and did not look at io_uring
  const MODE_CALLS = ['chmod', 'fchmod', 'fchmodat', 'fchmodat2', 'creat', 'open', 'openat', 'mkdir', 'mkdirat', 'mknod', 'mknodat'];
  const refuses = (syscalls: unknown[]) => filterRefusesSetidBits(compileSeccomp({ defaultAction: 'errno', defaultErrno: 'EPERM', syscalls }, { arch: hostArch() }).program, hostArch());
  const denied = { names: MODE_CALLS, action: 'errno', errno: 'EPERM' };
  assert.equal(await refuses([denied]), true, 'the mode calls refused outright (the baseline)');
  // "audit every chmod": the kernel runs a logged call
  assert.equal(await refuses([{ names: MODE_CALLS, action: 'log' }]), false, 'log');
  // a deny that also needs arg0 == 0, which a path pointer never is
  assert.equal(await refuses([{ names: MODE_CALLS, action: 'allow' },
    ...MODE_CALLS.map((n) => ({ names: [n], action: 'errno', errno: 'EPERM', args: [{ index: 0, op: 'eq', value: 0 }] }))]), false, 'a deny that needs a NULL path');
  // the ring's OPENAT/MKDIRAT requests carry a mode the filter cannot see
  assert.equal(await refuses([denied, { names: ['io_uring_setup', 'io_uring_enter'], action: 'allow' }]), false, 'io_uring');
});

test('the answer is kept in the cache directory for the next process, with the program it is for', async () => {
  const cache = join(dir.path, 'guard-cache');
  mkdirSync(cache);
  // a program no other test made (this process remembers answers by program)
  const p = compileSeccomp({ defaultAction: 'errno', defaultErrno: 'EXDEV', syscalls: [] }, { arch: hostArch() });
  assert.equal(await filterRefusesSetidBits(p.program, hostArch(), cache), true);
  const files = readdirSync(cache);
  assert.equal(files.length, 1, files.join(', '));
  assert.match(files[0]!, new RegExp(`^setid-v\\d+-${hostArch()}-[0-9a-f]{16}\\.json$`));
  const entry = JSON.parse(readFileSync(join(cache, files[0]!), 'utf8')) as { key: string; refused: boolean };
  assert.equal(entry.refused, true);
  assert.equal(entry.key, `${hostArch()}:${p.program.toString('base64')}`, 'used only for exactly these bytes');
});

test('as root with the default policy, a writable directory bind is idmapped', async () => {
  assert.equal(process.geteuid!(), 0, 'this test runs as root (CI does)');
  const p = await plan({ command: ['true'], bind: [`${dir.path}:/work:rw`, `${dir.path}:/ro`] });
  const attrs = (t: string): string[] => {
    const m = p.mounts.find((x) => x.target === t && x.op === 'bind');
    return m && m.op === 'bind' ? m.attrs : [];
  };
  assert.deepEqual(attrs('/work'), ['nosuid', 'nodev', 'idmap']);
  assert.ok(!attrs('/ro').includes('idmap'), 'read-only binds are never idmapped');
});

test('as root, a writable bind of a single root-owned file is idmapped too: the workload can write it, the owner stays', async () => {
  const file = join(dir.path, 'counter.txt');
  writeFileSync(file, 'a\n');
  chownSync(file, 0, 0);
  chmodSync(file, 0o644);
  const p = await plan({ command: ['true'], bind: [`${file}:/counter:rw`] });
  const bind = p.mounts.find((m) => m.target === '/counter')!;
  assert.ok('attrs' in bind && bind.attrs.includes('idmap'), JSON.stringify(bind));
  // it was silently read-only for the workload before
  const r = await sandboxExec(['sh', '-c', 'echo b >> /counter && cat /counter'], ['--bind', `${file}:/counter:rw`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'a\nb\n');
  assert.equal(readFileSync(file, 'utf8'), 'a\nb\n');
  assert.equal(statSync(file).uid, 0, 'still root-owned on the host');
});

test('without a filter refusing setid bits there is no idmap, even when the caller asks for one', async () => {
  const p = await plan({ command: ['true'], policy: noFilter, bind: [{ source: dir.path, target: '/work', mode: 'rw', idmap: true }] });
  const bind = p.mounts.find((m) => m.target === '/work')!;
  assert.ok('attrs' in bind && !bind.attrs.includes('idmap'), JSON.stringify(bind));
  const r = await sandboxExec(['sh', '-c', 'echo x > /work/out.txt'], ['--policy', noFilter, '--bind', `${dir.path}:/work:rw`]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Permission denied/);
  assert.equal(existsSync(join(dir.path, 'out.txt')), false);
});
