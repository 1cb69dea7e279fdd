/**
 * Benchmark: import+unpack throughput of a real-size layer against `umoci unpack` of the same
 * layout, in one run; and the time that trust verification adds before a run of a cached image.
 *
 *   node dist/bench/image-import.js [--source DIR] [--rounds N] [--tar]
 *
 * The layer is a gzip tar of --source (default /usr/share: ~800 MB, ~55k entries), packed here
 * into an OCI layout. Each round runs `sandbox image import` (a fresh store, accept-anything
 * policy) and `umoci unpack --rootless` alternately, on a warm page cache for both. With --tar,
 * `sandbox image import` is given the layout as a tar file (`tar -cf` of the directory), which it
 * reads in passes (documents, then layers); umoci still unpacks the directory.
 * Verification overhead: prepareRunImage() of the cached image under an accept-anything policy
 * (no signature work) versus a keyed and a keyless sigstoreSigned policy, median of many calls;
 * and, when `sandbox exec --image` is available, the same comparison through the CLI.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { prepareRunImage, signLayout } from '../src/image/index.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(REPO, 'dist/bin/sandbox.cjs');

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function writeBlob(dir: string, data: Buffer | string): { digest: string; size: number } {
  const b = Buffer.from(data);
  const hex = createHash('sha256').update(b).digest('hex');
  fs.writeFileSync(path.join(dir, 'blobs/sha256', hex), b);
  return { digest: `sha256:${hex}`, size: b.length };
}

/** tar of `source` → gzip layer blob; returns uncompressed size. */
async function buildLayout(source: string, layout: string): Promise<{ tarBytes: number; gzBytes: number; entries: number }> {
  fs.mkdirSync(path.join(layout, 'blobs/sha256'), { recursive: true });
  fs.writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const tmp = path.join(layout, 'layer.tmp');
  const diff = createHash('sha256');
  const blob = createHash('sha256');
  let tarBytes = 0;
  let gzBytes = 0;
  const tar = spawn('tar', ['--sort=name', '--numeric-owner', '--owner=0', '--group=0', '-C', source, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const gz = zlib.createGzip({ level: 6 });
  const out = fs.createWriteStream(tmp);
  tar.stdout.on('data', (c: Buffer) => {
    diff.update(c);
    tarBytes += c.length;
  });
  gz.on('data', (c: Buffer) => {
    blob.update(c);
    gzBytes += c.length;
  });
  tar.stdout.pipe(gz).pipe(out);
  await new Promise<void>((r) => out.on('close', () => r()));
  const hex = blob.digest('hex');
  fs.renameSync(tmp, path.join(layout, 'blobs/sha256', hex));
  const config = writeBlob(layout, JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/true'] }, rootfs: { type: 'layers', diff_ids: [`sha256:${diff.digest('hex')}`] } }));
  const manifest = writeBlob(layout, JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${hex}`, size: gzBytes }],
  }));
  fs.writeFileSync(path.join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
  }));
  const entries = Number(execFileSync('sh', ['-c', `find "${source}" | wc -l`], { encoding: 'utf8' }).trim());
  return { tarBytes, gzBytes, entries };
}

function timed(cmd: string, args: string[]): number {
  spawnSync('sync'); // start each measurement without the previous run's dirty pages
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return ms;
}

async function main(): Promise<void> {
  const source = arg('source', '/usr/share');
  const rounds = Number(arg('rounds', '3'));
  const asTar = process.argv.includes('--tar');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sbx-bench-image-'));
  try {
    const layout = path.join(work, 'layout');
    process.stderr.write(`packing ${source} as an OCI layout…\n`);
    const size = await buildLayout(source, layout);
    const input = asTar ? path.join(work, 'layout.tar') : layout;
    if (asTar) execFileSync('tar', ['-C', layout, '-cf', input, '.']);
    const lax = path.join(work, 'lax.json');
    fs.writeFileSync(lax, '{"default":[{"type":"insecureAcceptAnything"}]}');

    const ours: number[] = [];
    const umoci: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const order = i % 2 === 0 ? ['sandbox', 'umoci'] : ['umoci', 'sandbox'];
      for (const which of order) {
        const dest = path.join(work, `${which}-${i}`);
        if (which === 'sandbox') ours.push(timed(process.execPath, [CLI, 'image', 'import', input, '--store', dest, '--trust-policy', lax]));
        else umoci.push(timed('umoci', ['unpack', '--rootless', '--image', `${layout}:latest`, dest]));
        spawnSync('chmod', ['-R', 'u+rwX', dest]);
        fs.rmSync(dest, { recursive: true, force: true });
      }
    }
    const mb = size.tarBytes / 1e6;

    // Verification overhead on a cached image.
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    signLayout(layout, 'latest', privateKey);
    const store = path.join(work, 'store');
    const pub = path.join(work, 'k.pub');
    fs.writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
    const keyed = path.join(work, 'keyed.json');
    fs.writeFileSync(keyed, JSON.stringify({ default: [{ type: 'sigstoreSigned', keyPath: pub }] }));
    execFileSync(process.execPath, [CLI, 'image', 'import', layout, '--store', store, '--trust-policy', keyed]);
    const sample = async (policy: string, requireSignature: boolean, n = 200): Promise<number> => {
      const xs: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await prepareRunImage('layout:latest', { storeRoot: store, trustPolicyPath: policy, requireSignature });
        xs.push(performance.now() - t0);
      }
      return median(xs);
    };
    await sample(lax, false, 20); // warm up module loading and the page cache
    const noVerify = await sample(lax, false);
    const withKeyed = await sample(keyed, true);

    // Through the CLI. The layer holds no executable (it is a data tree), so a static busybox from the
    // host is bound in as the command.
    const busybox = ['/usr/bin/busybox', '/bin/busybox'].find((p) => fs.existsSync(p) && !fs.lstatSync(p).isSymbolicLink());
    if (!busybox) throw new Error('busybox-static is needed for the exec --image measurement (apt-get install busybox-static)');
    const execArgs = (policy: string) => [CLI, 'exec', '--image', 'layout:latest', '--store', store, '--trust-policy', policy, '--bind', `${busybox}:/busybox`, '--', '/busybox', 'true'];
    let execLine = '';
    const probe = spawnSync(process.execPath, execArgs(keyed), { encoding: 'utf8' });
    if (probe.status !== 0) {
      throw new Error(`sandbox exec --image failed (exit ${probe.status}): ${probe.stderr}`);
    } else {
      const a: number[] = [];
      const b: number[] = [];
      for (let i = 0; i < 15; i++) {
        a.push(timed(process.execPath, execArgs(lax)));
        b.push(timed(process.execPath, execArgs(keyed)));
      }
      execLine = `sandbox exec --image (cached, /bin/true): ${median(a).toFixed(1)} ms accept-anything vs ${median(b).toFixed(1)} ms keyed signature → +${(median(b) - median(a)).toFixed(1)} ms`;
    }

    const report = {
      source,
      input: asTar ? 'tar' : 'directory',
      layer: { uncompressedMB: +mb.toFixed(1), gzipMB: +(size.gzBytes / 1e6).toFixed(1), entries: size.entries },
      rounds,
      sandboxImportMs: ours.map((x) => Math.round(x)),
      umociUnpackMs: umoci.map((x) => Math.round(x)),
      sandboxMBps: +(mb / (median(ours) / 1000)).toFixed(1),
      umociMBps: +(mb / (median(umoci) / 1000)).toFixed(1),
      prepareRunImageMs: { acceptAnything: +noVerify.toFixed(2), keyedSignature: +withKeyed.toFixed(2), verificationAddsMs: +(withKeyed - noVerify).toFixed(2) },
    };
    process.stdout.write(
      [
        `layer: ${source}, ${report.layer.uncompressedMB} MB tar (${report.layer.gzipMB} MB gzip), ${size.entries} entries; ${rounds} rounds, median`,
        `sandbox image import${asTar ? ' of a layout tar' : ''} (hash, verify, 2-pass safe unpack): ${median(ours).toFixed(0)} ms  ${report.sandboxMBps} MB/s`,
        `umoci unpack --rootless:                               ${median(umoci).toFixed(0)} ms  ${report.umociMBps} MB/s`,
        `ratio sandbox/umoci: ${(median(ours) / median(umoci)).toFixed(2)}x`,
        `prepareRunImage (cached): ${noVerify.toFixed(2)} ms accept-anything, ${withKeyed.toFixed(2)} ms keyed sigstore → verification adds ${(withKeyed - noVerify).toFixed(2)} ms`,
        execLine,
        JSON.stringify(report),
      ].join('\n') + '\n',
    );
  } finally {
    spawnSync('chmod', ['-R', 'u+rwX', work]);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

await main();
