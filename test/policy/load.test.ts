/**
 * Policy resolution (src/policy/load.ts): built-ins, `extends` chains (relative to the extending
 * file), the implicit base `default`, cycles and depth, seccomp replaced as a whole, invalid JSON.
 * Schema error messages are in schema-errors.test.ts. The shipped policies' texts, as the build
 * validated them, are not validated again (and the validator is not even loaded for them).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { SandboxError, type SandboxErrorCode } from '../../src/errors.js';
import { buildPlan } from '../../src/launch/plan.js';
import { builtinPolicyNames, loadPolicy } from '../../src/policy/load.js';
import { policiesDir } from '../../src/policy/paths.js';
import { VALIDATED_AT_BUILD } from '../../src/policy/validated-at-build.js';
import { hostFacts } from '../unit/fixtures.js';

const POLICIES = policiesDir();
const DEFAULT_FILE = join(POLICIES, 'default.json');
const defaultDoc = JSON.parse(readFileSync(DEFAULT_FILE, 'utf8'));

const dir = mkdtempSync(join(tmpdir(), 'sbx-policy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Write a policy file under the temp dir; returns its absolute path. */
function write(rel: string, doc: unknown): string {
  const path = join(dir, rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2));
  return path;
}

function refused(fn: () => unknown, code: SandboxErrorCode, message: RegExp): SandboxError {
  let caught: SandboxError | null = null;
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SandboxError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    caught = e;
    return true;
  });
  return caught!;
}

describe('built-in policies', () => {
  const files = readdirSync(POLICIES).filter((f) => f.endsWith('.json') && f !== 'schema.json').map((f) => f.slice(0, -5)).sort();

  test('builtinPolicyNames lists every policies/*.json except the schema, and includes default and strict', () => {
    assert.deepEqual(builtinPolicyNames(), files);
    assert.ok(files.includes('default') && files.includes('strict'));
  });

  for (const name of files) {
    test(`${name}: loads, is based on default, carries its own name, and builds a plan`, () => {
      const { policy, files: chain, seccompBaseDir } = loadPolicy(name);
      assert.equal(chain[0], DEFAULT_FILE);
      assert.equal(chain.at(-1), join(POLICIES, `${name}.json`));
      assert.equal(policy.name, name);
      assert.ok(!('extends' in policy) && !('$schema' in policy), 'extends and $schema are not part of the resolved policy');
      assert.ok(seccompBaseDir.startsWith(POLICIES));
      // sizes, paths and devices of every built-in are usable by the plan builder
      const plan = buildPlan({
        policy, argv: ['/bin/true'], binds: [], tmpfs: [], workdir: policy.filesystem.workdir, env: {},
        host: hostFacts(), hostIds: { uid: 1001, gid: 1001 }, cgroupProcs: [], seccomp: null, image: null, extraRlimits: [],
      });
      assert.equal(plan.identity.insideUid, policy.identity.uid);
      assert.notEqual(policy.identity.uid, 0, 'never root inside');
    });
  }

  test('default is the base: its file is the whole chain', () => {
    const { policy, files: chain, seccompBaseDir } = loadPolicy('default');
    assert.deepEqual(chain, [DEFAULT_FILE]);
    assert.equal(seccompBaseDir, POLICIES);
    assert.deepEqual(policy.seccomp, { file: 'seccomp/default.json' });
    assert.deepEqual(policy.filesystem.hostDirs, defaultDoc.filesystem.hostDirs);
  });

  test('strict = default + strict.json, merged object by object', () => {
    const { policy, files: chain } = loadPolicy('strict');
    assert.deepEqual(chain, [DEFAULT_FILE, join(POLICIES, 'strict.json')]);
    assert.deepEqual(policy.filesystem.tmp, { size: '64M', inodes: 4096 });
    assert.deepEqual(policy.filesystem.devShm, { size: '16M' });
    assert.deepEqual(policy.filesystem.hostDirs, defaultDoc.filesystem.hostDirs, 'inherited');
    assert.deepEqual(policy.env, defaultDoc.env, 'inherited');
    assert.deepEqual(policy.rlimits, { nofile: 256, fsize: '1G' });
    assert.deepEqual(policy.limits, { onUnenforceable: 'error' });
    assert.deepEqual(policy.image, { requireSignature: true, writable: false });
    assert.deepEqual(policy.seccomp, { file: 'seccomp/strict.json' });
  });

  test('loading twice gives equal, independent objects', () => {
    const a = loadPolicy('strict').policy;
    a.filesystem.hostDirs.push('/opt');
    a.env['X'] = 'y';
    const b = loadPolicy('strict').policy;
    assert.ok(!b.filesystem.hostDirs.includes('/opt'));
    assert.equal(b.env['X'], undefined);
    assert.deepEqual(loadPolicy('default').policy.filesystem.hostDirs, defaultDoc.filesystem.hostDirs);
  });
});

describe('references', () => {
  test('an unknown name is POLICY_NOT_FOUND and lists the built-ins', () => {
    refused(() => loadPolicy('no-such-policy'), 'POLICY_NOT_FOUND', /no policy named 'no-such-policy'; built-in policies: .*default.*strict/);
  });

  test('a name with characters outside [A-Za-z0-9_.-] is not looked up', () => {
    refused(() => loadPolicy('str ict'), 'POLICY_NOT_FOUND', /no policy named 'str ict'/);
  });

  test('a missing file is POLICY_NOT_FOUND naming the path', () => {
    refused(() => loadPolicy(join(dir, 'missing.json')), 'POLICY_NOT_FOUND', new RegExp(`cannot read policy ${join(dir, 'missing.json')}: no such file`));
  });

  test('a path is relative to the given cwd', () => {
    write('rel/p.json', { hostname: 'relhost' });
    const { policy, files } = loadPolicy('rel/p.json', dir);
    assert.equal(policy.hostname, 'relhost');
    assert.deepEqual(files, [DEFAULT_FILE, join(dir, 'rel/p.json')]);
    assert.equal(loadPolicy('p.json', join(dir, 'rel')).policy.hostname, 'relhost', 'a bare *.json is a path, not a name');
  });

  test('a directory is not a policy', () => {
    mkdirSync(join(dir, 'adir.json'), { recursive: true });
    refused(() => loadPolicy(join(dir, 'adir.json')), 'POLICY_INVALID', /cannot read policy .*adir\.json/);
  });
});

describe('extends', () => {
  test('every policy implicitly extends default', () => {
    const file = write('implicit.json', { name: 'implicit', hostname: 'h1' });
    const { policy, files } = loadPolicy(file);
    assert.deepEqual(files, [DEFAULT_FILE, file]);
    assert.equal(policy.hostname, 'h1');
    assert.deepEqual(policy.filesystem, defaultDoc.filesystem);
    assert.deepEqual(policy.identity, defaultDoc.identity);
    assert.equal(policy.name, 'implicit');
  });

  test('extends "default" explicitly does not load default twice', () => {
    const file = write('explicit.json', { name: 'explicit', extends: 'default' });
    assert.deepEqual(loadPolicy(file).files, [DEFAULT_FILE, file]);
  });

  test('a built-in name in extends is the built-in, from any directory', () => {
    const file = write('deep/er/on-strict.json', { name: 'on-strict', extends: 'strict', hostname: 'h2' });
    const { policy, files } = loadPolicy(file);
    assert.deepEqual(files, [DEFAULT_FILE, join(POLICIES, 'strict.json'), file]);
    assert.deepEqual(policy.filesystem.tmp, { size: '64M', inodes: 4096 });
    assert.equal(policy.hostname, 'h2');
  });

  test('relative extends paths are resolved against the extending file, not the cwd', () => {
    const c = write('chain/base/c.json', { name: 'c', hostname: 'from-c', env: { C: 'c', SHARED: 'c' }, filesystem: { tmp: { size: '8M' } } });
    const b = write('chain/base/b.json', { name: 'b', extends: './c.json', env: { B: 'b', SHARED: 'b' }, filesystem: { tmp: { inodes: 99 } } });
    const a = write('chain/top/a.json', { name: 'a', extends: '../base/b.json', env: { SHARED: 'a' }, filesystem: { hostDirs: ['/usr'] } });
    const { policy, files } = loadPolicy('chain/top/a.json', dir);
    assert.deepEqual(files, [DEFAULT_FILE, c, b, a]);
    assert.equal(policy.name, 'a');
    assert.equal(policy.hostname, 'from-c');
    assert.deepEqual(policy.filesystem.tmp, { size: '8M', inodes: 99 }, 'objects merge key by key along the chain');
    assert.deepEqual(policy.filesystem.hostDirs, ['/usr'], 'arrays are replaced, not concatenated');
    assert.equal(policy.env['SHARED'], 'a');
    assert.equal(policy.env['B'], 'b');
    assert.equal(policy.env['C'], 'c');
    assert.equal(policy.env['PATH'], defaultDoc.env.PATH);
    // the same chain loaded from an unrelated cwd by absolute path
    assert.deepEqual(loadPolicy(a, '/').files, files);
  });

  test('a missing file in the chain is POLICY_NOT_FOUND naming it', () => {
    const file = write('dangling-extends.json', { extends: './nope/base.json' });
    refused(() => loadPolicy(file), 'POLICY_NOT_FOUND', new RegExp(`${join(dir, 'nope/base.json')}: no such file`));
  });

  test('an unknown built-in name in extends is POLICY_NOT_FOUND', () => {
    const file = write('bad-extends.json', { extends: 'no-such-builtin' });
    refused(() => loadPolicy(file), 'POLICY_NOT_FOUND', /no policy named 'no-such-builtin'/);
  });

  test('a cycle of two files is refused at /extends', () => {
    write('cycle/x.json', { extends: './y.json' });
    const y = write('cycle/y.json', { extends: './x.json' });
    const e = refused(() => loadPolicy(join(dir, 'cycle/x.json')), 'POLICY_INVALID', /\/extends: cycle \(.*x\.json.*y\.json|\/extends: cycle \(.*y\.json.*x\.json/);
    assert.equal(e.details['pointer'], '/extends');
    assert.ok([join(dir, 'cycle/x.json'), y].includes(String(e.details['file'])), `names a file of the cycle: ${e.details['file']}`);
  });

  test('a file extending itself is a cycle', () => {
    const self = write('self.json', { extends: './self.json' });
    refused(() => loadPolicy(self), 'POLICY_INVALID', /\/extends: cycle/);
  });

  test('a cycle through different spellings of the same path is still a cycle', () => {
    write('cyc2/p.json', { extends: '../cyc2/./q.json' });
    write('cyc2/q.json', { extends: './p.json' });
    refused(() => loadPolicy(join(dir, 'cyc2/p.json')), 'POLICY_INVALID', /\/extends: cycle/);
  });

  test('a chain of 8 files loads; 9 is refused as too deep', () => {
    const chainOf = (n: number, prefix: string): string => {
      for (let i = 1; i <= n; i++) write(`${prefix}/p${i}.json`, i < n ? { extends: `./p${i + 1}.json`, env: { [`LVL_${i}`]: 'x' } } : { env: { [`LVL_${i}`]: 'x' } });
      return join(dir, prefix, 'p1.json');
    };
    const eight = loadPolicy(chainOf(8, 'depth8'));
    assert.equal(eight.files.length, 9, '8 files + default');
    assert.equal(Object.keys(eight.policy.env).filter((k) => k.startsWith('LVL_')).length, 8);
    const e = refused(() => loadPolicy(chainOf(9, 'depth9')), 'POLICY_INVALID', /\/extends: chain longer than 8 files/);
    assert.equal(e.details['pointer'], '/extends');
  });

  test('a policy without a name keeps working (its fields apply)', () => {
    const file = write('unnamed/p.json', { hostname: 'unnamed' });
    assert.equal(loadPolicy(file).policy.hostname, 'unnamed');
  });
});

describe('seccomp is replaced as a whole, never merged', () => {
  const inline = { defaultAction: 'errno', defaultErrno: 'EPERM', syscalls: [{ names: ['read', 'write'], action: 'allow' }] };

  test('an inline section replaces default\'s { file } completely', () => {
    const file = write('sc/inline.json', { seccomp: inline });
    const { policy, seccompBaseDir } = loadPolicy(file);
    assert.deepEqual(policy.seccomp, inline);
    assert.equal(seccompBaseDir, join(dir, 'sc'), 'relative seccomp paths are resolved where the section was set');
  });

  test('a { file } over an inline section keeps no key of the inline one', () => {
    write('sc/inline.json', { seccomp: inline });
    const file = write('sc/sub/over.json', { extends: '../inline.json', seccomp: { file: 'mine.json' } });
    const { policy, seccompBaseDir } = loadPolicy(file);
    assert.deepEqual(policy.seccomp, { file: 'mine.json' });
    assert.equal(seccompBaseDir, join(dir, 'sc/sub'));
  });

  test('an inline section over another inline section is not merged rule by rule', () => {
    write('sc/inline.json', { seccomp: inline });
    const other = { defaultAction: 'allow' };
    const file = write('sc/other.json', { extends: './inline.json', seccomp: other });
    assert.deepEqual(loadPolicy(file).policy.seccomp, other);
  });

  test('a file that does not mention seccomp inherits the section and its base directory', () => {
    write('sc/inline.json', { seccomp: inline });
    const file = write('sc/deeper/child.json', { extends: '../inline.json', hostname: 'child' });
    const { policy, seccompBaseDir } = loadPolicy(file);
    assert.deepEqual(policy.seccomp, inline);
    assert.equal(seccompBaseDir, join(dir, 'sc'));
  });

  test('null turns seccomp off', () => {
    const file = write('sc/none.json', { extends: 'strict', seccomp: null });
    assert.equal(loadPolicy(file).policy.seccomp, null);
  });
});

describe('invalid JSON', () => {
  for (const [name, text] of [['truncated', '{ "name": "broken", '], ['trailing comma', '{ "hostname": "x", }'], ['empty', ''], ['comment', '// hi\n{}']] as const) {
    test(`${name}: POLICY_INVALID naming the file`, () => {
      const file = write(`json/${name.replace(' ', '-')}.json`, text);
      const e = refused(() => loadPolicy(file), 'POLICY_INVALID', new RegExp(`^${file}: invalid JSON: `));
      assert.equal(e.details['file'], file);
    });
  }

  test('invalid JSON in a base file names the base file', () => {
    const base = write('json/base-broken.json', '{');
    const top = write('json/top.json', { extends: './base-broken.json' });
    const e = refused(() => loadPolicy(top), 'POLICY_INVALID', /invalid JSON/);
    assert.equal(e.details['file'], base);
  });
});

describe('loading the same policy again (remembered per process)', () => {
  test('an edited file is read again, even at the same size, and so is an edited base', () => {
    write('memo/base.json', { name: 'base', limits: { wallTime: '5s' } });
    const file = write('memo/p.json', { name: 'p1', extends: './base.json' });
    assert.equal(loadPolicy(file).policy.name, 'p1');
    write('memo/p.json', { name: 'p2', extends: './base.json' });
    assert.equal(loadPolicy(file).policy.name, 'p2');
    write('memo/base.json', { name: 'base', limits: { wallTime: '7s' } });
    assert.equal(loadPolicy(file).policy.limits.wallTime, '7s');
  });

  test('a file that became invalid is refused, not served from memory', () => {
    const file = write('memo/q.json', { name: 'q' });
    loadPolicy(file);
    write('memo/q.json', { name: 'q', limits: { wallTime: 'soon' } });
    assert.throws(() => loadPolicy(file), (e: unknown) => e instanceof SandboxError && e.code === 'POLICY_INVALID');
  });

  test('each call gets its own copy: changing one does not change the next', () => {
    const first = loadPolicy('strict');
    first.policy.filesystem.tmp.size = '1k';
    (first.policy.filesystem.binds as unknown[]).push({ source: '/etc', target: '/x' });
    const second = loadPolicy('strict');
    assert.notEqual(second.policy.filesystem.tmp.size, '1k');
    assert.ok(!second.policy.filesystem.binds.some((b) => b.target === '/x'));
  });
});

describe('the shipped policies, validated by the build', () => {
  /** Loads `refs` in a fresh Node (nothing else has loaded the validator there); whether it was loaded. */
  function validatorLoadedFor(refs: string[]): boolean {
    const load = new URL('../../src/policy/load.js', import.meta.url).href;
    const script = `import { createRequire } from 'node:module';
      const { loadPolicy } = await import(${JSON.stringify(load)});
      for (const ref of ${JSON.stringify(refs)}) loadPolicy(ref);
      const cache = createRequire(import.meta.url).cache;
      console.log(JSON.stringify(Object.keys(cache).some((k) => k.endsWith('/policy-validator.cjs'))));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as boolean;
  }

  test('every shipped policy is among the texts the build validated', () => {
    const shipped = builtinPolicyNames().map((n) => readFileSync(join(POLICIES, `${n}.json`), 'utf8'));
    assert.deepEqual(shipped.filter((t) => !VALIDATED_AT_BUILD.has(t)), []);
    assert.equal(VALIDATED_AT_BUILD.size, shipped.length);
  });

  test('loading them does not load the validator; any other text does, even a valid copy with one change', () => {
    assert.equal(validatorLoadedFor(builtinPolicyNames()), false);
    const edited = write('shipped/strict-edited.json', readFileSync(join(POLICIES, 'strict.json'), 'utf8').replace('"name": "strict"', '"name": "strict2"'));
    assert.equal(validatorLoadedFor([edited]), true);
  });

  test('a shipped text with one invalid change is refused', () => {
    const text = readFileSync(join(POLICIES, 'strict.json'), 'utf8');
    const doc = JSON.parse(text) as Record<string, unknown>;
    const file = write('shipped/strict-invalid.json', JSON.stringify({ ...doc, hostname: 'not a label' }, null, 2));
    refused(() => loadPolicy(file), 'POLICY_INVALID', /\/hostname: must be a host name label/);
  });
});
