/**
 * Schema errors (policies/schema.json through the precompiled ajv validator, src/policy/validate.ts):
 * each names the file, the JSON pointer and what is allowed there.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { SandboxError } from '../../src/errors.js';
import { loadPolicy } from '../../src/policy/load.js';
import { policiesDir } from '../../src/policy/paths.js';
import { validatePolicyDocument } from '../../src/policy/validate.js';

const dir = mkdtempSync(join(tmpdir(), 'sbx-schema-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const schema = JSON.parse(readFileSync(join(policiesDir(), 'schema.json'), 'utf8'));
let n = 0;

interface Case { name: string; doc: unknown; pointer: string; message: RegExp }

const cases: Case[] = [
  {
    name: 'unknown top-level property: lists the allowed names',
    doc: { colour: 'red' }, pointer: '/',
    message: new RegExp(`unknown property 'colour'; allowed here: ${Object.keys(schema.properties).map((k: string) => k.replace('$', '\\$')).join(', ')}$`),
  },
  {
    name: 'unknown nested property: lists the names allowed at that level',
    doc: { filesystem: { tmp: { size: '1M', colour: 'red' } } }, pointer: '/filesystem/tmp',
    message: /unknown property 'colour'; allowed here: size, inodes$/,
  },
  {
    name: 'unknown property in a bind item',
    doc: { filesystem: { binds: [{ source: '/s', target: '/t', readonly: true }] } }, pointer: '/filesystem/binds/0',
    message: /unknown property 'readonly'; allowed here: source, target, mode$/,
  },
  {
    name: 'enum: lists the values',
    doc: { network: 'host' }, pointer: '/network',
    message: /must be one of: "none" \(got "host"\)$/,
  },
  {
    name: 'enum in an array item: lists the devices',
    doc: { filesystem: { devices: ['null', 'sda'] } }, pointer: '/filesystem/devices/1',
    message: /must be one of: "null", "zero", "full", "random", "urandom", "tty" \(got "sda"\)$/,
  },
  {
    name: 'enum: bind mode',
    doc: { filesystem: { binds: [{ source: '/s', target: '/t', mode: 'rx' }] } }, pointer: '/filesystem/binds/0/mode',
    message: /must be one of: "ro", "rw" \(got "rx"\)$/,
  },
  {
    name: 'pattern: shows the description, not the regex (workdir)',
    doc: { filesystem: { workdir: 'rel/dir' } }, pointer: '/filesystem/workdir',
    message: /must be an absolute, canonical path: no '\.', '\.\.' or empty components \(got "rel\/dir"\)$/,
  },
  {
    name: 'pattern: an item of hostDirs with ..',
    doc: { filesystem: { hostDirs: ['/usr', '/usr/../etc'] } }, pointer: '/filesystem/hostDirs/1',
    message: /must be an absolute, canonical path.*\(got "\/usr\/\.\.\/etc"\)$/,
  },
  {
    name: 'size: shows the accepted forms',
    doc: { filesystem: { tmp: { size: '64 MB' } } }, pointer: '/filesystem/tmp/size',
    message: /must be bytes \(at least 1\), or a number with a binary unit: 512K, 64M, 1.5G \(got "64 MB"\)$/,
  },
  {
    name: 'size in rlimits',
    doc: { rlimits: { fsize: '1T' } }, pointer: '/rlimits/fsize',
    message: /must be bytes \(at least 1\), or a number with a binary unit.*\(got "1T"\)$/,
  },
  {
    name: 'duration: shows the accepted forms',
    doc: { limits: { wallTime: '2 s' } }, pointer: '/limits/wallTime',
    message: /must be a duration: 300ms, 1.5s .*\(got "2 s"\)$/,
  },
  {
    name: 'type',
    doc: { rlimits: { nofile: 'many' } }, pointer: '/rlimits/nofile',
    message: /must be integer \(got "many"\)$/,
  },
  {
    name: 'minimum: uid 0 inside is refused',
    doc: { identity: { uid: 0 } }, pointer: '/identity/uid',
    message: /must be >= 1 \(got 0\)$/,
  },
  {
    name: 'seccomp: neither null, { file } nor a section',
    doc: { seccomp: { file: 'x.json', extra: 1 } }, pointer: '/seccomp',
    message: /must be null \(no filter\), \{ "file": PATH \}/,
  },
  {
    name: 'missing required bind target',
    doc: { filesystem: { binds: [{ source: '/s' }] } }, pointer: '/filesystem/binds/0',
    message: /must have required property 'target'/,
  },
];

describe('schema errors name the file, the JSON pointer and what is allowed', () => {
  for (const c of cases) {
    test(c.name, () => {
      const file = join(dir, `case-${n++}.json`);
      writeFileSync(file, JSON.stringify(c.doc));
      assert.throws(() => loadPolicy(file), (e: unknown) => {
        assert.ok(e instanceof SandboxError, String(e));
        assert.equal(e.code, 'POLICY_INVALID');
        assert.ok(e.message.startsWith(`${file}: ${c.pointer}: `), `file and pointer first: ${e.message}`);
        assert.match(e.message, c.message);
        assert.equal(e.details['file'], file);
        assert.equal(e.details['pointer'], c.pointer);
        assert.equal(e.message.split('\n').length, 1, 'one line');
        return true;
      });
    });
  }

  test('an error in a base file names the base file, not the one that extends it', () => {
    const base = join(dir, 'bad-base.json');
    writeFileSync(base, JSON.stringify({ network: 'bridge' }));
    const top = join(dir, 'good-top.json');
    writeFileSync(top, JSON.stringify({ extends: './bad-base.json', hostname: 'ok' }));
    assert.throws(() => loadPolicy(top), (e: unknown) => {
      assert.ok(e instanceof SandboxError);
      assert.ok(e.message.startsWith(`${base}: /network: `), e.message);
      assert.equal(e.details['file'], base);
      return true;
    });
  });

  test('a document that is not an object is refused at /', () => {
    for (const doc of [[], 'strict', 42, null]) {
      assert.throws(() => validatePolicyDocument(doc, 'x.json'), (e: unknown) => {
        assert.ok(e instanceof SandboxError);
        assert.equal(e.code, 'POLICY_INVALID');
        assert.equal(e.details['pointer'], '/');
        assert.ok(e.message.startsWith('x.json: /: '), e.message);
        return true;
      });
    }
  });

  test('valid documents pass: the built-ins and a full hand-written policy', () => {
    for (const f of ['default.json', 'strict.json']) validatePolicyDocument(JSON.parse(readFileSync(join(policiesDir(), f), 'utf8')), f);
    validatePolicyDocument({
      name: 'judge-x', extends: 'strict', description: 'd',
      identity: { uid: 1000, gid: 1000, user: 'runner', group: 'runner' }, hostname: 'judge',
      filesystem: { binds: [{ source: './in', target: '/in', mode: 'ro' }], tmpfs: [{ target: '/scratch', size: 1048576 }], workdir: '/scratch', devices: ['null', 'tty'] },
      env: { LC_ALL: 'C' }, rlimits: { nofile: 64, stack: '8M', nproc: 32 },
      limits: { memory: '256M', pids: 64, wallTime: 5000, cpuTime: '2s', cpus: 0.5, output: '1M', onUnenforceable: 'error' },
      seccomp: null, image: { requireSignature: true, writable: false },
    }, 'judge-x.json');
  });
});
