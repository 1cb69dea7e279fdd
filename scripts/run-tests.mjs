#!/usr/bin/env node
/**
 * `npm test`: builds, then runs every test file under dist/test with node's test runner, and fails
 * when any test was skipped or left as todo — a skipped test is not a passing test.
 * Usage: npm test [-- dir-or-file ...]   (default: all of dist/test)
 */
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const targets = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['dist/test'];
// One file at a time: the integration tests measure time and memory, SIGKILL supervisors and sweep
// their leftovers, which other files running alongside would disturb.
const child = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=tap', ...targets], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
let tail = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-4096);
});
child.on('close', (code) => {
  const count = (name) => Number((new RegExp(`^# ${name} (\\d+)$`, 'm').exec(tail) ?? [])[1] ?? 0);
  const skipped = count('skipped');
  const todo = count('todo');
  if (code === 0 && (skipped > 0 || todo > 0)) {
    console.error(`\nrun-tests: ${skipped} skipped and ${todo} todo tests: a skipped test is a failure here`);
    process.exit(1);
  }
  process.exit(code ?? 1);
});
