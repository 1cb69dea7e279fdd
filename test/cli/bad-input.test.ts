/**
 * Bad input: each case is a one-line message naming what is wrong, exit status 125, and nothing left
 * behind (mount table and the input directory unchanged).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { cli, modes, mountTable } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'sbx-bad-input-'));
chmodSync(dir, 0o755); // readable by the rootless test user
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'broken.json'), '{ "name": "broken", ');
writeFileSync(join(dir, 'unknown-field.json'), JSON.stringify({ filesystem: { tmp: { size: '1M', colour: 'red' } } }));
writeFileSync(join(dir, 'bad-size.json'), JSON.stringify({ filesystem: { tmp: { size: '64 MB' } } }));
writeFileSync(join(dir, 'cycle-a.json'), JSON.stringify({ extends: './cycle-b.json' }));
writeFileSync(join(dir, 'cycle-b.json'), JSON.stringify({ extends: './cycle-a.json' }));
mkdirSync(join(dir, 'real'));
mkdirSync(join(dir, 'real2'));
writeFileSync(join(dir, 'file'), '');
symlinkSync(join(dir, 'real'), join(dir, 'link'));
const long = `/${'x'.repeat(5000)}`;
const files = readdirSync(dir).join(',');

const cases: { name: string; args: string[]; message: RegExp }[] = [
  { name: 'unknown flag', args: ['exec', '--no-such-flag', '--', 'true'], message: /Unknown argument: no-such-flag/ },
  { name: 'missing --', args: ['exec', 'true'], message: /put the command after `--`/ },
  { name: 'nothing after --', args: ['exec', '--'], message: /put the command after `--`/ },
  // a flag whose value is left out (a script's empty $POLICY): it ran the default policy, silently
  { name: 'a policy flag without its value', args: ['exec', '--policy', '--', 'true'], message: /Not enough arguments following: policy/ },
  { name: 'a bind flag without its value', args: ['exec', '--bind', '--', 'true'], message: /Not enough arguments following: bind/ },
  { name: 'a store flag without its value (the working directory was the store)', args: ['image', 'ls', '--store', '--json'], message: /Not enough arguments following: store/ },
  { name: 'verify-bundle: a file that does not exist', args: ['verify-bundle', '--bundle', `${dir}/no-such-bundle`, '--key', `${dir}/no-such-key`, 'sha256:00'], message: /cannot read the file to verify sha256:00 \(ENOENT\)/ },
  { name: 'a flag given two values', args: ['exec', '--bind', '/usr:/a', '/usr:/b', '--', 'true'], message: /'\/usr:\/b' before `--` is neither an option nor its value/ },
  { name: 'unknown command', args: ['frobnicate'], message: /Unknown argument: frobnicate/ },
  { name: 'nonexistent bind source', args: ['exec', '--bind', '/nonexistent/sbx:/x', '--', 'true'], message: /bind source \/nonexistent\/sbx does not exist/ },
  { name: 'bind source through a symlink', args: ['exec', '--bind', `${dir}/link:/x`, '--', 'true'], message: /is a symlink, and bind sources are never followed through symlinks; give the real path/ },
  { name: 'malformed bind', args: ['exec', '--bind', 'only-one-part', '--', 'true'], message: /write SRC:DST/ },
  { name: 'bind over /proc', args: ['exec', '--bind', `${dir}/real:/proc/sys`, '--', 'true'], message: /\/proc is built by the sandbox/ },
  // The mount point cannot be made inside the read-only /usr: the run fails there, and nothing is
  // mounted on /usr itself instead (the launcher once mounted such a tmpfs over the parent).
  { name: 'tmpfs target under a read-only bind', args: ['exec', '--tmpfs', '/usr/sbx-no-such-dir', '--', 'true'], message: /tmpfs \/usr\/sbx-no-such-dir: cannot create the mount point \(EROFS\); its parent is read-only/ },
  { name: 'bind target under a read-only bind', args: ['exec', '--bind', `${dir}/real:/usr/sbx-no-such-dir`, '--', 'true'], message: /bind \/usr\/sbx-no-such-dir: cannot create the mount point \(EROFS\)/ },
  { name: 'a directory bound onto a file', args: ['exec', '--bind', `${dir}/real:/etc/passwd`, '--', 'true'], message: /bind \/etc\/passwd: a directory is needed where the sandbox has a file \(ENOTDIR\)/ },
  { name: 'a file bound onto a directory', args: ['exec', '--bind', `${dir}/broken.json:/tmp`, '--', 'true'], message: /bind \/tmp: the target is a directory in the sandbox but the source is a file \(EISDIR\)/ },
  { name: 'a tmpfs under a file', args: ['exec', '--tmpfs', '/etc/hosts/x', '--', 'true'], message: /tmpfs \/etc\/hosts\/x: a directory is needed where the sandbox has a file \(ENOTDIR\)/ },
  { name: 'a working directory that is a file', args: ['exec', '--workdir', '/etc/passwd', '--', 'true'], message: /working directory \/etc\/passwd: is not a directory in the sandbox \(ENOTDIR\)/ },
  { name: 'relative bind target', args: ['exec', '--bind', `${dir}/real:work`, '--', 'true'], message: /must be an absolute path/ },
  { name: 'invalid policy JSON', args: ['exec', '--policy', `${dir}/broken.json`, '--', 'true'], message: /broken\.json: invalid JSON/ },
  { name: 'unknown policy field', args: ['exec', '--policy', `${dir}/unknown-field.json`, '--', 'true'], message: /unknown-field\.json: \/filesystem\/tmp: unknown property 'colour'; allowed here: size, inodes/ },
  { name: 'bad size in policy', args: ['exec', '--policy', `${dir}/bad-size.json`, '--', 'true'], message: /bad-size\.json: \/filesystem\/tmp\/size: must be .*64M.*got "64 MB"/ },
  { name: 'extends cycle', args: ['exec', '--policy', `${dir}/cycle-a.json`, '--', 'true'], message: /\/extends: cycle/ },
  { name: 'unknown policy name', args: ['exec', '--policy', 'no-such-policy', '--', 'true'], message: /no policy named 'no-such-policy'; built-in policies: .*default.*strict/ },
  { name: 'bad env', args: ['exec', '--env', '1BAD=x', '--', 'true'], message: /'1BAD' is not a valid variable name/ },
  { name: 'a number flag that is not a number', args: ['exec', '--pids', 'abc', '--', 'true'], message: /--pids: 'abc' is not a number/ },
  // the kernel refused the quota (EINVAL on cpu.cfs_quota_us); docker/podman's range is checked first
  { name: 'more CPUs than the host has', args: ['exec', '--cpus', '1e9', '--', 'true'], message: /--cpus: '1000000000' is out of range: give 0\.01 to \d+ cores/ },
  { name: 'bad workdir', args: ['exec', '--workdir', 'rel/dir', '--', 'true'], message: /--workdir 'rel\/dir' must be an absolute path/ },
  // the last bind hid the first; a file bound where a tmpfs was made failed with a raw EISDIR
  { name: 'two binds at one target', args: ['exec', '--bind', `${dir}/real:/x`, '--bind', `${dir}/real2:/x`, '--', 'true'], message: /two mounts at \/x: a bind of \/\S+\/real and a bind of \/\S+\/real2; give each bind and tmpfs \(the policy's and yours\) its own target/ },
  { name: 'two tmpfs at one target', args: ['exec', '--tmpfs', '/x', '--tmpfs', '/x:1M', '--', 'true'], message: /two mounts at \/x: a tmpfs and a tmpfs;/ },
  { name: 'a tmpfs and a file bind at one target', args: ['exec', '--tmpfs', '/x', '--bind', `${dir}/file:/x`, '--', 'true'], message: /two mounts at \/x: a tmpfs and a bind of \/\S+\/file;/ },
  // the launcher refused these as a malformed plan ("this is a bug, please report it")
  { name: 'a bind target longer than PATH_MAX', args: ['exec', '--bind', `${dir}/real:${long}`, '--', 'true'], message: /--bind '.{20,}…': the target is 5001 bytes; a path has at most 4095 \(PATH_MAX\): shorten it/ },
  { name: 'a tmpfs target longer than PATH_MAX', args: ['exec', '--tmpfs', long, '--', 'true'], message: /--tmpfs '\/x+…': the target is 5001 bytes; a path has at most 4095/ },
  { name: 'a workdir longer than PATH_MAX', args: ['exec', '--workdir', long, '--', 'true'], message: /--workdir is 5001 bytes; a path has at most 4095 \(PATH_MAX\): shorten it/ },
];

for (const mode of modes()) {
  describe(`bad input (${mode.name})`, () => {
    for (const c of cases) {
      test(c.name, async () => {
        const mounts = mountTable();
        const r = await cli(c.args, { user: mode.user });
        assert.equal(r.code, 125, `exit status (stderr: ${r.stderr})`);
        assert.match(r.stderr, c.message);
        assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
        assert.equal(r.stdout, '');
        assert.equal(mountTable(), mounts);
        assert.equal(readdirSync(dir).join(','), files);
      });
    }
  });
}
