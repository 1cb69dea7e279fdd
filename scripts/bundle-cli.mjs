#!/usr/bin/env node
// Bundles the CLI (dist/src/cli/main.js, after tsc and postbuild) into dist/bin/sandbox-cli.cjs, installs
// the loader as dist/bin/sandbox.cjs (the package's bin), and records V8's code cache by running one
// representative command with SANDBOX_WRITE_CODE_CACHE=1 (see the end of this file).
// What `sandbox exec`'s usual run does not use is in other files, each read only when first used:
// large third-party packages (SIDE_FILES below), the rest of our own code (OWN_BUNDLES) and the policy
// validator.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { dirname, relative, resolve } from 'node:path';
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
// The loader maps the main bundle (native/spawn.c, mapText): a running `sandbox exec` reads it again
// whenever V8 compiles one of its functions. So the build never rewrites it in place, which would take
// the pages from under a run in progress (SIGBUS): the old file is unlinked first (a running process
// keeps its own copy), and the new one appears by a rename, whole. The same for its code cache.
rmSync(resolve(bin, 'sandbox-cli.cjs'), { force: true });
rmSync(resolve(bin, 'sandbox-cli.cjs.v8cache'), { force: true });
/**
 * Side files: third-party packages the main bundle require()s only when first used. Every start reads
 * the whole main bundle (and V8 copies it into a string), ~10 ms per MB here, so large packages that
 * `sandbox exec`'s usual run does not need live in side files. Each is built from its packages alone
 * (so they share their own dependencies, as in one bundle) and exports each package as a getter that
 * runs the package's code on first use. In the main bundle each import of one of them becomes
 * `require('./<side file>').<name>`, run when the importing module is first loaded. Our own code is
 * never in them, so none of our classes (SandboxError…) is duplicated.
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
  // import() of another bundle becomes a require() (the loader's vm.Script has no dynamic import)
  supported: { 'dynamic-import': false },
  // ESM's import.meta.url → the file's own URL (paths are found relative to it)
  define: { 'import.meta.url': '__sandbox_bundle_url' },
  banner: { js: "const __sandbox_bundle_url = require('node:url').pathToFileURL(__filename).href;" },
};
/**
 * Our own code that `sandbox exec`'s usual run does not use lives in bundles of its own, each read only
 * when first used (~5 ms of every start for the ~240 KB, bench/README.md): the file → the module
 * whose dynamic import starts it. Every module is in exactly one bundle — the main one
 * (sandbox-cli.cjs) first, then these in this order — so no class (SandboxError…) or module state
 * is ever duplicated. A bundle that imports a module of another one gets it from that bundle's
 * `__sbx` table: the module's exports, initialised on first use (esbuild's require() of a bundled ES
 * module), so a module the main bundle runs lazily stays lazy. The main bundle is in require()'s
 * cache under its own name (the loader puts it there), so the other bundles' require() finds the
 * running one.
 */
const OWN_BUNDLES = {
  // whether a filter refuses setuid bits (writable binds as root), with the generator's interpreter and
  // syscall tables: runs when its answer is not cached yet
  'sandbox-setid.cjs': 'dist/src/launch/setid-check.js',
  'sandbox-seccomp.cjs': 'dist/src/seccomp/index.js', // the seccomp generator: runs when its cache misses
  'sandbox-image.cjs': 'dist/src/image/index.js', // runs from an image (--image)
  'sandbox-commands.cjs': 'dist/src/cli/yargs-cli.js', // every command line but exec's usual one, through yargs
};
const MAIN = { file: 'sandbox-cli.cjs', entry: resolve(root, 'dist/src/cli/main.js') };
const bundles = [MAIN, ...Object.entries(OWN_BUNDLES).map(([file, entry]) => ({ file, entry: resolve(root, entry) }))];
const keyOf = (path) => relative(resolve(root, 'dist'), path);

/** A relative import resolved as esbuild would; `kept(path, kind)` says whether this build bundles it. */
function relativeImports(kept) {
  return {
    name: 'own-bundles',
    setup(b) {
      b.onResolve({ filter: /^\./ }, async (args) => {
        if (args.pluginData === 'own-bundles') return undefined;
        const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'own-bundles' });
        if (r.errors.length > 0) return { errors: r.errors };
        if (r.external) return { path: r.path, external: true };
        return kept(r.path, args.kind) ?? undefined;
      });
    },
  };
}

/** Which bundle each module is in, and which modules each bundle must hand to the others. */
async function partition() {
  const owner = new Map();
  const wanted = new Map(bundles.map((x) => [x.file, new Set()]));
  const entries = new Map(bundles.map((x) => [x.entry, x.file]));
  for (const bundle of bundles) {
    const r = await build({
      ...common, entryPoints: [bundle.entry], write: false, metafile: true, outfile: resolve(bin, bundle.file),
      plugins: [toSideFiles, relativeImports((path, kind) => {
        const other = entries.get(path) ?? owner.get(path);
        if (other === undefined || other === bundle.file) return null;
        if (entries.has(path) && bundle === MAIN && kind !== 'dynamic-import') {
          throw new Error(`bundle-cli: ${keyOf(path)} is imported statically by the main bundle: it would be read at every start`);
        }
        if (!entries.has(path)) wanted.get(other).add(path);
        return { path, external: true };
      })],
    });
    for (const input of Object.keys(r.metafile.inputs)) {
      const path = resolve(root, input);
      if (!owner.has(path)) owner.set(path, bundle.file);
    }
  }
  return { owner, wanted, entries };
}

const { owner, wanted, entries } = await partition();
for (const bundle of bundles) {
  const table = [...wanted.get(bundle.file)].map((path) => `  ${JSON.stringify(keyOf(path))}: () => require(${JSON.stringify(path)}),`);
  await build({
    ...common,
    stdin: {
      contents: [
        `// generated by scripts/bundle-cli.mjs: ${keyOf(bundle.entry)}, and the modules of this bundle that others import`,
        bundle === MAIN ? `import ${JSON.stringify(bundle.entry)};` : `export * from ${JSON.stringify(bundle.entry)};`,
        `export const __sbx = {\n${table.join('\n')}\n};`,
      ].join('\n'),
      resolveDir: root,
      sourcefile: bundle.file,
    },
    outfile: resolve(bin, bundle.file),
    plugins: [toSideFiles, relativeImports((path) => {
      const other = entries.get(path) ?? owner.get(path);
      if (other === undefined || other === bundle.file) return null;
      if (entries.has(path)) return { path: `./${other}`, external: true };
      return { path: `${other}:${keyOf(path)}`, namespace: 'other-bundle', pluginData: { file: other, key: keyOf(path) } };
    }), {
      name: 'other-bundle',
      setup(b) {
        b.onResolve({ filter: /^\.\/sandbox-[a-z]+\.cjs$/ }, (args) => ({ path: args.path, external: true }));
        b.onLoad({ filter: /.*/, namespace: 'other-bundle' }, (args) => ({
          contents: `module.exports = require('./${args.pluginData.file}').__sbx[${JSON.stringify(args.pluginData.key)}]();`,
          loader: 'js',
          resolveDir: bin,
        }));
      },
    }],
  });
}
// The loader compiles the bundle as one function, as Node's CommonJS loader would: wrap it here, once,
// so that each start compiles the file's text as read, not a copy joined to the wrapper at run time.
// (The entry's hashbang goes: it is not JavaScript inside a function.)
const cli = resolve(bin, 'sandbox-cli.cjs');
writeFileSync(`${cli}.tmp`, Module.wrap(readFileSync(cli, 'latin1').replace(/^#!.*\n/, '')), 'latin1');
renameSync(`${cli}.tmp`, cli);
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
