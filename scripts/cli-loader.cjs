#!/usr/bin/env node
/*
 * The `sandbox` executable: loads the bundled CLI (sandbox-cli.cjs, made by esbuild from
 * dist/src/cli/main.js with what `sandbox exec`'s usual run needs; it require()s the other bundles —
 * sandbox-commands.cjs, sandbox-image.cjs, sandbox-vendor.cjs… — when their code is first used, see
 * scripts/bundle-cli.mjs) with V8's code cache made at build time, so a start does not parse and
 * compile some hundred modules again. A cache that does not fit this Node (version or flags) is
 * rejected by V8 and the bundle is simply compiled. With SANDBOX_WRITE_CODE_CACHE=1 (the build does this once) the
 * cache is written when the process exits, so it also holds the functions that run used.
 */
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const vm = require('node:vm');

const file = path.join(__dirname, 'sandbox-cli.cjs');
const cacheFile = `${file}.v8cache`;
// The bundle is already wrapped in Node's CommonJS function wrapper (by scripts/bundle-cli.mjs), so its
// text is compiled as read. It is pure ASCII (esbuild charset 'ascii'), so latin1 reads it exactly,
// without UTF-8 decoding.
let source, cachedData;
const mapped = mapper();
try {
  source = mapped ? mapped.mapText(file) : readFileSync(file, 'latin1');
} catch {
  source = readFileSync(file, 'latin1'); // its error, if any, is the one to show
}
try {
  cachedData = mapped ? mapped.mapBytes(cacheFile) : readFileSync(cacheFile);
} catch {
  cachedData = undefined;
}
const script = new vm.Script(source, { filename: file, cachedData });
if (process.env.SANDBOX_WRITE_CODE_CACHE === '1') {
  process.once('exit', () => writeFileSync(cacheFile, script.createCachedData()));
}
const mod = new Module(file, module);
mod.filename = file;
mod.paths = Module._nodeModulePaths(__dirname);
// The bundles of the rest of our code (sandbox-commands.cjs…) take modules from this one by require()ing
// it: from the cache, this very instance (a second copy would run the CLI again).
Module._cache[file] = mod;
script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(file), mod, file, __dirname);

/**
 * native/spawn.c's module, which the run loads anyway to start the launcher (loaded here first, so its
 * dlopen is not added but moved, and left under Symbol.for('sandbox.spawn-module') for
 * src/launch/spawn.ts to use rather than load it again): it maps the bundle and its cache instead of
 * reading them (see mapText there). null where it is not built (`sandbox doctor` must still start
 * and say so) or fails to load: the files are then read, and spawn.ts says what is wrong if a run needs it.
 */
function mapper() {
  const m = { exports: {} };
  try {
    process.dlopen(m, path.join(__dirname, '..', '..', 'native', 'build', 'sandbox-spawn.node'));
  } catch {
    return null;
  }
  globalThis[Symbol.for('sandbox.spawn-module')] = m.exports;
  return m.exports;
}
