/**
 * `sandbox image …`: import, ls, inspect, rm, sign, verify. Each handler is the algorithm of its
 * command in a few lines; the work is in src/image/. Errors are SandboxErrors (IMAGE / TRUST)
 * printed as one line by main.ts (exit 125), with the stable reason appended.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { SandboxError } from '../errors.js';
import { readConfigFile } from '../policy/read-config-file.js';
import type { Progress } from '../image/store.js';
import { COMMAND_INFO } from './commands.js';
import { lastValueWins } from './single-valued.js';

interface Common {
  store?: string;
  'trust-policy'?: string;
  json?: boolean;
  [k: string]: unknown;
}

/** Adds the reason code to the message so the one printed line says why (e.g. "(unsigned)"). */
/** The store's file system refusing a write: the user's to fix, said in one line (not a stack trace). */
const STORAGE_ERRORS: Record<string, string> = {
  ENOSPC: 'no space left on the file system; free some, or give --store on a larger one',
  EDQUOT: 'the disk quota is used up; free some, or give --store elsewhere',
  EROFS: 'the file system is read-only; give --store on a writable one',
  EIO: 'an I/O error from the file system',
};

async function withReason(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof SandboxError && typeof e.details.reason === 'string' && !e.message.endsWith(`(${e.details.reason})`)) {
      throw new SandboxError(e.code, `${e.message} (${e.details.reason})`, e.details);
    }
    const errno = e as NodeJS.ErrnoException;
    const meaning = typeof errno?.code === 'string' ? STORAGE_ERRORS[errno.code] : undefined;
    if (meaning !== undefined) {
      throw new SandboxError('IMAGE', `${errno.syscall ?? 'write'} ${errno.path ?? ''}: ${meaning} (${errno.code}) (storage)`, { reason: 'storage', errno: errno.code });
    }
    throw e;
  }
}

async function lib() {
  return import('../image/index.js');
}

async function openStore(argv: Common) {
  const { ImageStore, defaultStoreRoot } = await lib();
  return new ImageStore(argv.store ?? defaultStoreRoot());
}

async function policyOf(argv: Common) {
  const { loadTrustPolicy, defaultTrustPolicyPath } = await lib();
  return loadTrustPolicy(argv['trust-policy'] ?? defaultTrustPolicyPath());
}

/** A progress bar on a terminal; nothing otherwise (output stays machine-readable). */
async function progressBar(): Promise<Progress | undefined> {
  if (!process.stderr.isTTY) return undefined;
  const { SingleBar, Presets } = (await import('cli-progress')).default;
  const bar = new SingleBar(
    { stream: process.stderr, format: '{label} [{bar}] {percentage}% {value}/{total} bytes', hideCursor: true, clearOnComplete: true },
    Presets.shades_classic,
  );
  return {
    start: (total, label) => bar.start(Math.max(total, 1), 0, { label }),
    update: (done) => bar.update(done),
    stop: () => bar.stop(),
    note: (m) => process.stderr.write(`sandbox: ${m}\n`),
  };
}

/** `LAYOUT[:TAG]` when LAYOUT exists on disk; undefined when the argument is a store reference. */
export function splitLayoutArg(arg: string): { dir: string; tag?: string } | undefined {
  if (fs.existsSync(arg)) return { dir: arg };
  const i = arg.lastIndexOf(':');
  if (i > 0 && fs.existsSync(arg.slice(0, i))) return { dir: arg.slice(0, i), tag: arg.slice(i + 1) };
  return undefined;
}

function print(obj: unknown, argv: Common, human: () => string): void {
  process.stdout.write(argv.json || !process.stdout.isTTY ? JSON.stringify(obj) + '\n' : human() + '\n');
}

const common = (y: Argv) =>
  lastValueWins(y, ['store', 'trust-policy', 'name', 'tag', 'key', 'bundle-out'])
    .option('store', { type: 'string', describe: 'image store root (default /var/lib/sandbox, rootless $XDG_DATA_HOME/sandbox)' })
    .option('trust-policy', { type: 'string', describe: 'trust policy file (default /etc/sandbox/trust.json, rootless $XDG_CONFIG_HOME/sandbox/trust.json)' })
    .option('json', { type: 'boolean', describe: 'machine-readable output (the default when stdout is not a terminal)' });

const importCmd: CommandModule<object, any> = {
  command: 'import <path>',
  describe: 'check trust, then unpack an OCI layout (directory or tar) into the store',
  builder: (y) =>
    common(y)
      .positional('path', { type: 'string', demandOption: true })
      .option('name', { type: 'string', describe: 'image name (refs become NAME:TAG; default: the layout file name)' })
      .option('tag', { type: 'string', describe: 'import only this tag of the layout' })
      .option('bundle', { type: 'string', array: true, nargs: 1, describe: 'sidecar sigstore bundle file(s)' })
      .option('require-signature', { type: 'boolean', default: false, describe: 'refuse images the policy would accept unsigned' }),
  handler: (argv) =>
    withReason(async () => {
      const store = await openStore(argv);
      const opts: Parameters<typeof store.import>[1] = { policy: await policyOf(argv), requireSignature: argv['require-signature'] };
      if (argv.name) opts.name = argv.name;
      if (argv.tag) opts.tag = argv.tag;
      if (argv.bundle) opts.bundles = argv.bundle;
      const progress = await progressBar();
      if (progress) opts.progress = progress;
      for (const r of await store.import(argv.path, opts)) {
        print({ ref: r.ref, digest: r.digest, reused: r.reused, trust: r.trust.satisfied }, argv, () => `${r.ref}\t${r.digest}${r.reused ? '\t(already in store)' : ''}`);
      }
    }),
};

const lsCmd: CommandModule<object, any> = {
  command: 'ls',
  describe: 'list stored images',
  builder: (y) => common(y),
  handler: (argv) =>
    withReason(async () => {
      const images = (await openStore(argv)).list();
      if (argv.json || !process.stdout.isTTY) {
        for (const i of images) process.stdout.write(JSON.stringify(i) + '\n');
        return;
      }
      process.stdout.write('REFS\tDIGEST\tLAYERS\tSIZE\tSIGNATURES\n');
      for (const i of images) process.stdout.write(`${i.refs.join(',') || '<none>'}\t${i.digest}\t${i.layers}\t${i.size}\t${i.signatures}\n`);
    }),
};

const inspectCmd: CommandModule<object, any> = {
  command: 'inspect <ref>',
  describe: 'show a stored image (record, manifest, run config)',
  builder: (y) => common(y).positional('ref', { type: 'string', demandOption: true }),
  handler: (argv) =>
    withReason(async () => {
      const store = await openStore(argv);
      const { digest } = store.resolve(argv.ref);
      const img = store.load(digest);
      const refs = [...store.refs()].filter(([, d]) => d === digest).map(([r]) => r);
      process.stdout.write(JSON.stringify({ ...img.record, refs, rootfs: img.rootfs, config: img.config, manifest: img.manifest }, null, 2) + '\n');
    }),
};

const rmCmd: CommandModule<object, any> = {
  command: 'rm <ref>',
  describe: 'remove a reference (and the image once nothing refers to it)',
  builder: (y) => common(y).positional('ref', { type: 'string', demandOption: true }),
  handler: (argv) =>
    withReason(async () => {
      const r = await (await openStore(argv)).remove(argv.ref);
      print(r, argv, () => [...r.removedRefs.map((x) => `untagged ${x}`), ...(r.removedImage ? [`deleted ${r.removedImage}`] : [])].join('\n'));
    }),
};

const signCmd: CommandModule<object, any> = {
  command: 'sign <layout>',
  describe: 'sign LAYOUT[:TAG] with a local key (cosign-v3-style DSSE bundle, attached as an OCI referrer)',
  builder: (y) =>
    y
      .positional('layout', { type: 'string', demandOption: true })
      .option('key', { type: 'string', demandOption: true, describe: 'PEM private key (EC P-256/P-384, Ed25519 or RSA)' })
      .option('bundle-out', { type: 'string', describe: 'also write the bundle to this file (sidecar)' })
      .option('json', { type: 'boolean' }),
  handler: (argv) =>
    withReason(async () => {
      const { signLayout, loadPrivateKey } = await lib();
      const where = splitLayoutArg(argv.layout);
      if (!where) throw new SandboxError('IMAGE', `${argv.layout} is not an OCI layout on disk`, { reason: 'not-a-layout' });
      const r = signLayout(where.dir, where.tag, loadPrivateKey(argv.key));
      if (argv['bundle-out']) fs.writeFileSync(argv['bundle-out'], r.bundle);
      print({ manifest: r.manifestDigest, referrer: r.referrerDigest, bundle: r.bundleDigest }, argv, () => `signed ${r.manifestDigest} (referrer ${r.referrerDigest})`);
    }),
};

const verifyCmd: CommandModule<object, any> = {
  command: 'verify <ref>',
  describe: 'check REF (in the store) or LAYOUT[:TAG] (on disk) against the trust policy',
  builder: (y) =>
    common(y)
      .positional('ref', { type: 'string', demandOption: true })
      .option('bundle', { type: 'string', array: true, nargs: 1, describe: 'sidecar sigstore bundle file(s)' })
      .option('name', { type: 'string', describe: 'name used to pick the policy scope for a layout' })
      .option('require-signature', { type: 'boolean', default: false }),
  handler: (argv) =>
    withReason(async () => {
      const policy = await policyOf(argv);
      const where = splitLayoutArg(argv.ref);
      const bundles = ((argv.bundle as string[] | undefined) ?? []).map((f) => ({
        source: f,
        bytes: readConfigFile(f, (why) => {
          throw new SandboxError('USAGE', `--bundle ${f}: cannot read it: ${why}`, { reason: 'usage' });
        }),
      }));
      let decision;
      if (where) {
        const { openLayoutDir, resolveImage, findReferrerBundles } = await import('../image/layout.js');
        const { evaluateTrust } = await import('../image/trust.js');
        const { defaultName } = await import('../image/store.js');
        if (!fs.statSync(where.dir).isDirectory()) throw new SandboxError('IMAGE', 'verify takes a layout directory; import a tar first', { reason: 'not-a-layout' });
        const layout = openLayoutDir(where.dir);
        const image = resolveImage(layout, where.tag);
        const sigs = [...findReferrerBundles(layout, image.digest).map((b) => ({ source: `referrer ${b.digest}`, bytes: b.bytes })), ...bundles];
        const target: { name?: string; tag?: string; digest: string; manifestBytes: Buffer } = { name: argv.name ?? defaultName(path.resolve(where.dir)), digest: image.digest, manifestBytes: image.manifestBytes };
        if (image.tag !== undefined) target.tag = image.tag;
        decision = evaluateTrust(policy, target, sigs, argv['require-signature']);
      } else {
        const store = await openStore(argv);
        decision = store.verifyStored(argv.ref, policy, argv['require-signature']).trust;
      }
      print(decision, argv, () => `verified ${decision.digest} (scope ${decision.scope}: ${decision.satisfied.join(', ')})`);
    }),
};

export const imageCommand: CommandModule<object, any> = {
  ...COMMAND_INFO.image,
  builder: (y) => y.command(importCmd).command(lsCmd).command(inspectCmd).command(rmCmd).command(signCmd).command(verifyCmd).demandCommand(1),
  handler: () => undefined,
};
