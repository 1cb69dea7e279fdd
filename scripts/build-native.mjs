#!/usr/bin/env node
// Builds native/sandbox-launcher with the system C compiler (npm's install step runs this).
// A clear error when there is no compiler; never installs anything setuid.
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cc = process.env.CC || 'cc';
const probe = spawnSync(cc, ['--version'], { stdio: 'ignore' });
if (probe.error || probe.status !== 0) {
  console.error(`sandbox: cannot build the native launcher: no C compiler (${cc}) found.\n` +
    '  Install one (Debian/Ubuntu: apt-get install gcc make libc6-dev), then run: npm run build:native');
  process.exit(1);
}
const make = spawnSync('make', ['-C', resolve(root, 'native'), `CC=${cc}`], { stdio: 'inherit' });
if (make.error) {
  console.error('sandbox: cannot build the native launcher: `make` is missing (apt-get install make)');
  process.exit(1);
}
process.exit(make.status ?? 1);
