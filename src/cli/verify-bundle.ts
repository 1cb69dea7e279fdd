/**
 * `sandbox verify-bundle`: the sigstore-conformance client protocol (docs/cli_protocol.md):
 *
 *   verify-bundle [--staging] --bundle FILE --certificate-identity ID --certificate-oidc-issuer URL [--trusted-root FILE] FILE_OR_DIGEST
 *   verify-bundle [--staging] --bundle FILE --key PEM [--trusted-root FILE] FILE_OR_DIGEST
 *
 * FILE_OR_DIGEST is a digest when it is `sha256:<64 hex>` and not a path on disk. Exit 0 on
 * success, 125 (one line on stderr) on failure. Offline: without --trusted-root the public-good
 * trusted root shipped in @sigstore/tuf is used; --staging has no offline root and is refused.
 */
import fs from 'node:fs';
import type { CommandModule } from 'yargs';
import { SandboxError } from '../errors.js';
import { readConfigFile } from '../policy/read-config-file.js';
import { COMMAND_INFO } from './commands.js';
import { lastValueWins } from './single-valued.js';

/** A file named on the command line: a missing or unreadable one is the caller's mistake, not ours. */
function readArgFile(path: string, what: string): Buffer {
  try {
    return fs.readFileSync(path); // the artifact: any size, a pipe too (`<(…)`)
  } catch (e) {
    throw new SandboxError('USAGE', `cannot read the ${what} ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { reason: 'usage' });
  }
}

/** A key or a bundle: a regular file of at most 4 MiB (a FIFO or /dev/zero named by mistake is refused). */
function readSmallArgFile(path: string, what: string): Buffer {
  return readConfigFile(path, (why) => {
    throw new SandboxError('USAGE', `cannot read the ${what} ${path}: ${why}`, { reason: 'usage' });
  });
}

export const verifyBundleCommand: CommandModule<object, any> = {
  ...COMMAND_INFO['verify-bundle'],
  builder: (y) =>
    lastValueWins(y, ['bundle', 'certificate-identity', 'certificate-oidc-issuer', 'key', 'trusted-root'])
      .positional('file-or-digest', { type: 'string', demandOption: true })
      .option('bundle', { type: 'string', demandOption: true })
      .option('certificate-identity', { type: 'string' })
      .option('certificate-oidc-issuer', { type: 'string' })
      .option('key', { type: 'string' })
      .option('trusted-root', { type: 'string' })
      .option('staging', { type: 'boolean', default: false }),
  handler: async (argv) => {
    const { sha256, isDigest } = await import('../image/digest.js');
    const { loadTrustedRoot, publicGoodTrustedRoot } = await import('../image/trusted-root.js');
    const { verifyBundle, publicKeyFromPem } = await import('../image/verify.js');
    const target: string = argv['file-or-digest'];
    const keyed = argv.key !== undefined;
    if (keyed === (argv['certificate-identity'] !== undefined || argv['certificate-oidc-issuer'] !== undefined)) {
      throw new SandboxError('USAGE', 'give --key, or --certificate-identity with --certificate-oidc-issuer', { reason: 'usage' });
    }
    if (!keyed && (argv['certificate-identity'] === undefined || argv['certificate-oidc-issuer'] === undefined)) {
      throw new SandboxError('USAGE', '--certificate-identity and --certificate-oidc-issuer go together', { reason: 'usage' });
    }
    if (argv.staging && !argv['trusted-root']) {
      throw new SandboxError('TRUST', '--staging needs --trusted-root: no staging trust root is available offline', { reason: 'trusted-root-missing' });
    }
    const artifact = isDigest(target) && !fs.existsSync(target) ? { digest: target } : (() => {
      const bytes = readArgFile(target, 'file to verify');
      return { digest: sha256(bytes), bytes };
    })();
    const trustedRoot = argv['trusted-root'] ? loadTrustedRoot(argv['trusted-root']) : publicGoodTrustedRoot();
    const trust = keyed
      ? { kind: 'keyed' as const, keys: [publicKeyFromPem(readSmallArgFile(argv.key, 'key'), argv.key)], trustedRoot, requireTlog: true }
      : { kind: 'keyless' as const, trustedRoot, identity: { value: argv['certificate-identity'] as string, type: 'any' as const }, issuer: argv['certificate-oidc-issuer'] as string };
    const result = verifyBundle(readSmallArgFile(argv.bundle, 'bundle'), artifact, trust);
    process.stdout.write(`OK: ${artifact.digest} (${result.kind}, ${result.content}${result.identity ? `, ${result.identity}` : ''})\n`);
  },
};
