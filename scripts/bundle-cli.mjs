#!/usr/bin/env node
// Bundles the CLI (dist/src/cli/main.js, after tsc and postbuild) into dist/bin/sandbox-cli.cjs, installs
// the loader as dist/bin/sandbox.cjs (the package's bin), and records V8's code cache by running one
// representative command (a dry run of the strict policy) with SANDBOX_WRITE_CODE_CACHE=1.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = resolve(root, 'dist/bin');
mkdirSync(bin, { recursive: true });
rmSync(resolve(bin, 'sandbox-cli.cjs.v8cache'), { force: true });
await build({
  entryPoints: [resolve(root, 'dist/src/cli/main.js')],
  outfile: resolve(bin, 'sandbox-cli.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // native addon: loaded from node_modules at run time
  external: ['koffi'],
  // ESM's import.meta.url → the bundle's own URL (paths are found relative to it)
  define: { 'import.meta.url': '__sandbox_bundle_url' },
  banner: { js: "const __sandbox_bundle_url = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
  legalComments: 'none',
  // Less to read and to deserialize at every start; identifiers are kept, so stack traces stay readable.
  minifyWhitespace: true,
  minifySyntax: true,
  // ASCII output (esbuild escapes the rest), so the loader can read it as latin1: a one-byte string, no UTF-8 decoding.
  charset: 'ascii',
});
copyFileSync(resolve(root, 'scripts/cli-loader.cjs'), resolve(bin, 'sandbox.cjs'));
chmodSync(resolve(bin, 'sandbox.cjs'), 0o755);
const warm = spawnSync(process.execPath, [resolve(bin, 'sandbox.cjs'), 'exec', '--dry-run', '--policy', 'strict', '--', 'true'], {
  env: { ...process.env, SANDBOX_WRITE_CODE_CACHE: '1' },
  stdio: ['ignore', 'ignore', 'inherit'],
});
if (warm.status !== 0) {
  console.error('bundle-cli: the bundled CLI failed its dry run; see the message above');
  process.exit(1);
}
