#!/usr/bin/env node
// After tsc: make the CLI entry executable.
import { chmodSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
chmodSync(resolve(root, 'dist/src/cli/main.js'), 0o755);
