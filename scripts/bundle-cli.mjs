#!/usr/bin/env node
// Bundles the CLI (dist/src/cli/main.js, after tsc and postbuild) into dist/bin/sandbox-cli.cjs, installs
// the loader as dist/bin/sandbox.cjs (the package's bin), and records V8's code cache by running one
// representative command with SANDBOX_WRITE_CODE_CACHE=1 (see the end of this file).
// Large third-party packages that `sandbox exec`'s usual run does not use go to side files,
// read only when one of them is first used (see SIDE_FILES below).
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/**
 * Dependencies of yargs (and of its cliui and wrap-ansi) whose module-level code is costly and which
 * `sandbox exec` never calls (they only measure and wrap help text): each is replaced in the bundle by
 * a stub that require()s the real module on first use. esbuild turns that require() of an ES module
 * into a lazily run initialiser, so the module's top level runs only when help is rendered.
 *  - string-width (three copies: yargs', cliui's, wrap-ansi's) builds an Intl.Segmenter and a
 *    \p{RGI_Emoji} regex when loaded: ~25 + ~22 ms of ICU initialisation on a 2-core dev VM.
 *  - assert (the yargs platform shim takes strictEqual/notStrictEqual from it): node:assert loads
 *    its error classes and colour support, ~5 ms, and touches process.stderr. yargs calls both on
 *    every option it is given (that a key is a string), so the stub answers a passing check itself
 *    (the same Object.is comparison) and loads node:assert only to throw for a failing one.
 */
const lazyModules = {
  'string-width': (real) => `let m; export default function stringWidth(...a) { m ??= require(${real}); return m.default(...a); }`,
  assert: (real) => `let m; const a = () => (m ??= require(${real}));
    export function strictEqual(x, y, ...rest) { if (!Object.is(x, y)) a().strictEqual(x, y, ...rest); }
    export function notStrictEqual(x, y, ...rest) { if (Object.is(x, y)) a().notStrictEqual(x, y, ...rest); }`,
};

/**
 * Two lines of yargs' Node platform shim, replaced in the bundle (the text is that of the pinned yargs,
 * package.json; if either is not found, the build fails rather than go slow):
 *  - it reads process.stdout.columns when it is loaded, which makes Node create process.stdout (~5 ms;
 *    `sandbox exec` never writes to it unless asked for --json or --dry-run). yargs reads the value
 *    only to wrap help text: a getter takes its place.
 *  - mainFilename, where yargs looks for a package.json to guess a version (its factory does, before
 *    we set ours), is derived from a node_modules path the bundle does not have, so it fell back to
 *    the working directory: every start searched the user's directories upwards for a package.json
 *    (and, finding none, loaded node:assert to throw). The bundle's own path: ours is two levels up.
 */
const SHIM_EDITS = [
  ["stdColumns: typeof process.stdout.columns !== 'undefined' ? process.stdout.columns : null",
    "get stdColumns() { return typeof process.stdout.columns !== 'undefined' ? process.stdout.columns : null; }"],
  ['mainFilename: mainFilename || process.cwd(),', 'mainFilename: __dirname, // the bundle (see scripts/bundle-cli.mjs)'],
];
const yargsShimEdits = {
  name: 'yargs-shim-edits',
  setup(b) {
    b.onLoad({ filter: /node_modules[\\/]yargs[\\/]lib[\\/]platform-shims[\\/]esm\.mjs$/ }, (args) => {
      let text = readFileSync(args.path, 'utf8');
      for (const [from, to] of SHIM_EDITS) {
        if (!text.includes(from)) return { errors: [{ text: `${args.path}: no longer has \`${from}\`; update SHIM_EDITS in scripts/bundle-cli.mjs` }] };
        text = text.replace(from, to);
      }
      return { contents: text, loader: 'js' };
    });
  },
};
const lazyDependencies = {
  name: 'lazy-dependencies',
  setup(b) {
    const filter = new RegExp(`^(${Object.keys(lazyModules).join('|')})$`);
    b.onResolve({ filter }, async (args) => {
      if (args.pluginData === 'real') return undefined; // the stub's own require: the real module
      if (!/node_modules[\\/](yargs|cliui|wrap-ansi)[\\/]/.test(args.importer)) return undefined;
      const real = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, pluginData: 'real' });
      if (real.errors.length > 0) return { errors: real.errors };
      return { path: `${args.path}:${real.path}`, namespace: 'lazy', pluginData: { name: args.path, real } };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, (args) => {
      const { name, real } = args.pluginData;
      // builtins stay a plain require(); a package is addressed by its resolved file
      return { contents: lazyModules[name](JSON.stringify(real.external ? name : real.path)), loader: 'js', resolveDir: root };
    });
  },
};

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = resolve(root, 'dist/bin');
mkdirSync(bin, { recursive: true });
rmSync(resolve(bin, 'sandbox-cli.cjs.v8cache'), { force: true });
/**
 * Side files: third-party packages the main bundle require()s only when first used. Every start reads
 * the whole main bundle (and V8 copies it into a string), ~10 ms per MB here, so large packages that
 * `sandbox exec`'s usual run does not need live in side files. Each is built from its packages alone
 * (so they share their own dependencies, as in one bundle) and exports each package as a getter that
 * runs the package's code on first use. In the main bundle each import of one of them becomes
 * `require('./<side file>').<name>`, run when the importing module is first loaded. Only our own
 * code lives in the main bundle, so none of our classes (SandboxError…) is duplicated. Deep imports
 * (ajv/dist/runtime/*, used by the precompiled policy validator) are small and stay there.
 *  - sandbox-vendor.cjs (~430 KB): ajv's compiler, tar, sigstore, fzstd, cli-progress, used only by
 *    the image code and `sandbox policy`.
 *  - sandbox-yargs.cjs: yargs, with its help renderer (cliui, wrap-ansi, string-width…), ~190 KB.
 *    `sandbox exec`'s usual line is parsed without it (src/cli/exec-fast-path.ts); every other
 *    command, --help and usage errors load it.
 */
const SIDE_FILES = {
  'sandbox-vendor.cjs': ['ajv', 'tar', 'fzstd', 'cli-progress', '@sigstore/bundle', '@sigstore/core', '@sigstore/protobuf-specs', '@sigstore/verify'],
  'sandbox-yargs.cjs': ['yargs'],
};
/**
 * Packages imported by their default export that are ES modules (yargs): the main bundle's CommonJS
 * interop would take the module's namespace as its default, so the stub hands over the default itself.
 */
const DEFAULT_EXPORT_ONLY = new Set(['yargs']);
const sideFileOf = new Map(Object.entries(SIDE_FILES).flatMap(([file, names]) => names.map((n) => [n, file])));
const escape = (text) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const sideFilter = new RegExp(`^(${[...sideFileOf.keys()].map(escape).join('|')})$`);
/** main bundle: a side-file package → a require() of its side file */
const toSideFiles = {
  name: 'to-side-files',
  setup(b) {
    b.onResolve({ filter: sideFilter }, (args) => ({ path: args.path, namespace: 'side-file' }));
    b.onResolve({ filter: new RegExp(`^\\./(${Object.keys(SIDE_FILES).map(escape).join('|')})$`) }, (args) => ({ path: args.path, external: true }));
    b.onLoad({ filter: /.*/, namespace: 'side-file' }, (args) => ({
      contents: `module.exports = require('./${sideFileOf.get(args.path)}')[${JSON.stringify(args.path)}]${DEFAULT_EXPORT_ONLY.has(args.path) ? '.default' : ''};`,
      loader: 'js',
      resolveDir: bin,
    }));
  },
};
/**
 * side file: `side-import:NAME` is resolved as an `import` of NAME (the file the main bundle
 * used to include, ESM build included), then require()d, which esbuild compiles to a lazy initialiser.
 */
const sideEntry = {
  name: 'side-entry',
  setup(b) {
    b.onResolve({ filter: /^side-import:/ }, async (args) => {
      const r = await b.resolve(args.path.slice('side-import:'.length), { kind: 'import-statement', resolveDir: root });
      return r.errors.length > 0 ? { errors: r.errors } : { path: r.path };
    });
  },
};
const sideSource = (names) => [
  '// generated by scripts/bundle-cli.mjs: each package runs on first use',
  ...names.map((n) => `Object.defineProperty(exports, ${JSON.stringify(n)}, { enumerable: true, get: () => require(${JSON.stringify(`side-import:${n}`)}) });`),
].join('\n');

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // native addon: loaded from node_modules at run time
  external: ['koffi'],
  logLevel: 'warning',
  legalComments: 'none',
  // Less to read and to deserialize at every start; identifiers are kept, so stack traces stay readable.
  minifyWhitespace: true,
  minifySyntax: true,
  // ASCII output (esbuild escapes the rest), so the loader can read it as latin1: a one-byte string, no UTF-8 decoding.
  charset: 'ascii',
  // ESM's import.meta.url → the file's own URL (paths are found relative to it)
  define: { 'import.meta.url': '__sandbox_bundle_url' },
  banner: { js: "const __sandbox_bundle_url = require('node:url').pathToFileURL(__filename).href;" },
};
await build({
  ...common,
  entryPoints: [resolve(root, 'dist/src/cli/main.js')],
  outfile: resolve(bin, 'sandbox-cli.cjs'),
  plugins: [toSideFiles],
});
// The loader compiles the bundle as one function, as Node's CommonJS loader would: wrap it here, once,
// so that each start compiles the file's text as read, not a copy joined to the wrapper at run time.
// (The entry's hashbang goes: it is not JavaScript inside a function.)
const cli = resolve(bin, 'sandbox-cli.cjs');
writeFileSync(cli, Module.wrap(readFileSync(cli, 'latin1').replace(/^#!.*\n/, '')), 'latin1');
for (const [file, names] of Object.entries(SIDE_FILES)) {
  await build({
    ...common,
    stdin: { contents: sideSource(names), resolveDir: root, sourcefile: file },
    outfile: resolve(bin, file),
    plugins: [sideEntry, lazyDependencies, yargsShimEdits],
  });
}
// The policy validator generated by postbuild (~115 KB with ajv's runtime helpers): src/policy/validate.ts
// require()s it by its name next to the requiring file, on first use only (the shipped policies need
// no validation at run time), so the bundle has it as a file of its own next to it.
await build({
  ...common,
  entryPoints: [resolve(root, 'dist/src/policy/policy-validator.cjs')],
  outfile: resolve(bin, 'policy-validator.cjs'),
});
copyFileSync(resolve(root, 'scripts/cli-loader.cjs'), resolve(bin, 'sandbox.cjs'));
chmodSync(resolve(bin, 'sandbox.cjs'), 0o755);
/**
 * The code cache holds the functions the recording run compiled. A dry run of the strict policy must
 * succeed (it is the build's check that the bundle works); then, where this machine can run a sandbox,
 * one real `exec -- /bin/true` records the cache instead, with the launch and supervision code in it
 * too (~2-4 ms of every later start, bench/README.md). Where it cannot (no user namespaces, no launcher
 * built yet), the dry run's cache stays.
 */
const cacheFile = resolve(bin, 'sandbox-cli.cjs.v8cache');
const record = (args) => spawnSync(process.execPath, [resolve(bin, 'sandbox.cjs'), 'exec', ...args], {
  env: { ...process.env, SANDBOX_WRITE_CODE_CACHE: '1' },
  stdio: ['ignore', 'ignore', 'pipe'],
  timeout: 60_000,
});
const dry = record(['--dry-run', '--policy', 'strict', '--', 'true']);
if (dry.status !== 0) {
  process.stderr.write(dry.stderr ?? '');
  console.error('bundle-cli: the bundled CLI failed its dry run; see the message above');
  process.exit(1);
}
const dryCache = readFileSync(cacheFile);
if (record(['--policy', 'strict', '--', '/bin/true']).status !== 0) writeFileSync(cacheFile, dryCache);
