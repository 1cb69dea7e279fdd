/**
 * Fixtures for the image tests, all made here in temp dirs: raw tar writer (so malicious entries
 * are exactly what we say), OCI layout builder, busybox rootfs, umoci/skopeo layouts, keys, a test
 * CA with openssl, a test transparency log, and sigstore bundles (v0.1 with SETs, v0.3 with
 * inclusion proofs and signed checkpoints).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { dsse, json as sjson } from '@sigstore/core';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const CLI = path.join(REPO, 'dist/bin/sandbox.cjs');

export function sha256hex(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

/** A temp dir removed after the test (also when it fails). */
export function tempDir(t: { after: (fn: () => void) => void }, prefix = 'sbx-img-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => {
    spawnSync('chmod', ['-R', 'u+rwX', d]);
    fs.rmSync(d, { recursive: true, force: true });
  });
  return d;
}

export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeout?: number } = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...opts.env }, timeout: opts.timeout ?? 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// ---------------------------------------------------------------- tar

export interface TarEntry {
  name: string;
  /** '0' file, '1' hardlink, '2' symlink, '3' char dev, '4' block dev, '5' dir, '6' fifo */
  type?: string;
  data?: Buffer | string;
  mode?: number;
  linkname?: string;
  mtime?: number;
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return `${len}${body}`;
}

function rawHeader(name: string, type: string, size: number, mode: number, linkname: string, mtime: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name.slice(0, 100), 0, 'utf8');
  h.write(octal(mode, 8), 100);
  h.write(octal(0, 8), 108);
  h.write(octal(0, 8), 116);
  h.write(octal(size, 12), 124);
  h.write(octal(mtime, 12), 136);
  h.write('        ', 148);
  h.write(type, 156);
  h.write(linkname.slice(0, 100), 157, 'utf8');
  h.write('ustar\0', 257);
  h.write('00', 263);
  h.write(octal(0, 8), 329);
  h.write(octal(0, 8), 337);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148);
  return h;
}

function pad(b: Buffer): Buffer {
  const rem = b.length % 512;
  return rem === 0 ? b : Buffer.concat([b, Buffer.alloc(512 - rem)]);
}

/** One tar entry (with a pax header when a name is longer than ustar allows). */
export function tarEntry(e: TarEntry): Buffer {
  const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
  const type = e.type ?? '0';
  const mode = e.mode ?? (type === '5' ? 0o755 : 0o644);
  const parts: Buffer[] = [];
  const linkname = e.linkname ?? '';
  if (Buffer.byteLength(e.name) > 100 || Buffer.byteLength(linkname) > 100) {
    const pax = Buffer.from(paxRecord('path', e.name) + (linkname ? paxRecord('linkpath', linkname) : ''));
    parts.push(rawHeader('PaxHeader', 'x', pax.length, 0o644, '', 0), pad(pax));
  }
  parts.push(rawHeader(e.name, type, type === '0' ? data.length : 0, mode, linkname, e.mtime ?? 1_700_000_000));
  if (type === '0' && data.length) parts.push(pad(data));
  return Buffer.concat(parts);
}

/** The ustar header alone of a regular file of `size` bytes (its data and padding are the caller's). */
export function fileHeader(name: string, size: number): Buffer {
  return rawHeader(name, '0', size, 0o644, '', 1_700_000_000);
}

export function makeTar(entries: TarEntry[]): Buffer {
  return Buffer.concat([...entries.map(tarEntry), Buffer.alloc(1024)]);
}

// ---------------------------------------------------------------- OCI layouts

export const MT = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  tar: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
};

export function writeBlob(dir: string, data: Buffer | string): { digest: string; size: number } {
  const b = Buffer.from(data);
  const hex = sha256hex(b);
  fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'blobs', 'sha256', hex), b);
  return { digest: `sha256:${hex}`, size: b.length };
}

export interface LayoutSpec {
  /** Uncompressed tar bytes of each layer. */
  layers: Buffer[];
  compression?: 'gzip' | 'none';
  tag?: string;
  config?: Record<string, unknown>;
  /** Last-minute edits of the manifest / config / index objects. */
  editManifest?: (m: Record<string, any>) => void;
  editConfig?: (c: Record<string, any>) => void;
  editIndex?: (i: Record<string, any>) => void;
}

export interface BuiltLayout {
  dir: string;
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  layerDigests: string[];
}

export function writeLayout(dir: string, spec: LayoutSpec): BuiltLayout {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const compression = spec.compression ?? 'gzip';
  const layers = spec.layers.map((tar) => {
    const blob = compression === 'gzip' ? zlib.gzipSync(tar) : tar;
    return { ...writeBlob(dir, blob), mediaType: compression === 'gzip' ? MT.gzip : MT.tar, diffId: `sha256:${sha256hex(tar)}` };
  });
  const config: Record<string, any> = {
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/bin/busybox', 'echo', 'hi'], Env: ['PATH=/bin'], WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    ...spec.config,
  };
  spec.editConfig?.(config);
  const cfg = writeBlob(dir, JSON.stringify(config));
  const manifest: Record<string, any> = {
    schemaVersion: 2,
    mediaType: MT.manifest,
    config: { mediaType: MT.config, ...cfg },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  spec.editManifest?.(manifest);
  const man = writeBlob(dir, JSON.stringify(manifest));
  const index: Record<string, any> = {
    schemaVersion: 2,
    mediaType: MT.index,
    manifests: [{ mediaType: MT.manifest, ...man, annotations: { 'org.opencontainers.image.ref.name': spec.tag ?? 'latest' } }],
  };
  spec.editIndex?.(index);
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify(index));
  return { dir, manifestDigest: man.digest, manifestSize: man.size, configDigest: cfg.digest, layerDigests: layers.map((l) => l.digest) };
}

/** A tiny rootfs: /bin/busybox (static) and a few applet symlinks. */
export function busyboxRootfs(dir: string): string {
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'tmp'), { mode: 0o1777 });
  fs.copyFileSync(fs.existsSync('/bin/busybox') ? '/bin/busybox' : '/usr/bin/busybox', path.join(dir, 'bin', 'busybox'));
  fs.chmodSync(path.join(dir, 'bin', 'busybox'), 0o755);
  for (const a of ['sh', 'echo', 'cat', 'ls']) fs.symlinkSync('busybox', path.join(dir, 'bin', a));
  fs.mkdirSync(path.join(dir, 'etc'));
  fs.writeFileSync(path.join(dir, 'etc', 'motd'), 'hello from the image\n');
  return dir;
}

/** The busybox layer as a tar made by us (for layouts built by writeLayout). */
export function busyboxTar(): Buffer {
  const bb = fs.readFileSync(fs.existsSync('/bin/busybox') ? '/bin/busybox' : '/usr/bin/busybox');
  return makeTar([
    { name: 'bin/', type: '5' },
    { name: 'bin/busybox', data: bb, mode: 0o755 },
    { name: 'bin/sh', type: '2', linkname: 'busybox' },
    { name: 'bin/echo', type: '2', linkname: 'busybox' },
    { name: 'etc/', type: '5' },
    { name: 'etc/motd', data: 'hello from the image\n' },
  ]);
}

function run(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Packs `rootfs` as an OCI layout with umoci (gzip layer), tag `tag`. */
export function umociLayout(rootfs: string, layout: string, tag: string, work: string): void {
  run('umoci', ['init', '--layout', layout]);
  run('umoci', ['new', '--image', `${layout}:${tag}`]);
  const bundle = path.join(work, `umoci-bundle-${tag}`);
  run('umoci', ['unpack', '--rootless', '--image', `${layout}:${tag}`, bundle]);
  run('cp', ['-a', `${rootfs}/.`, path.join(bundle, 'rootfs')]);
  run('umoci', ['repack', '--image', `${layout}:${tag}`, bundle]);
  run('umoci', ['config', '--image', `${layout}:${tag}`, '--config.cmd', '/bin/busybox', '--config.cmd', 'echo', '--config.cmd', 'hi', '--config.env', 'GREETING=hello']);
  run('umoci', ['gc', '--layout', layout]);
}

/** Copies an OCI layout with skopeo (re-compressing the layers with zstd). */
export function skopeoCopy(src: string, dest: string, tag: string): void {
  run('skopeo', ['copy', '--insecure-policy', '--dest-compress', '--dest-compress-format', 'zstd', `oci:${src}:${tag}`, `oci:${dest}:${tag}`]);
}

/** Replaces one byte of a file (tamper test). */
export function flipByte(file: string, offset?: number): void {
  const b = fs.readFileSync(file);
  const i = offset ?? Math.floor(b.length / 2);
  b[i] = b[i]! ^ 0x01;
  fs.writeFileSync(file, b);
}

export function blobFile(layout: string, digest: string): string {
  return path.join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

/** Every path under `dir` (relative), for "nothing written outside" checks. */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(r);
      if (e.isDirectory()) walk(path.join(d, e.name), r);
    }
  };
  if (fs.existsSync(dir)) walk(dir, '');
  return out.sort();
}

// ---------------------------------------------------------------- keys, CA, log, bundles

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  privatePem: string;
  publicPem: string;
}

export function ecKeyPair(curve: 'P-256' | 'P-384' = 'P-256'): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
  return {
    privateKey,
    publicKey,
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
}

export function writeFile(dir: string, name: string, data: string | Buffer): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, data);
  return f;
}

export interface TestCA {
  certPem: string;
  certDer: Buffer;
  certFile: string;
  /** Issues a leaf certificate for `key` with the given SAN and Fulcio issuer extension. */
  issue(key: KeyPair, san: { email?: string; uri?: string }, issuer: string, days?: number): Buffer;
}

function pemToDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----(BEGIN|END) [A-Z ]+-----|\s/g, ''), 'base64');
}

/** A test certificate authority made with openssl (EC P-256), in `dir`. */
export function makeCA(dir: string, name = 'Test Fulcio CA'): TestCA {
  const key = ecKeyPair();
  const keyFile = writeFile(dir, `${name.replace(/\W/g, '')}-ca.key`, key.privatePem);
  const certFile = path.join(dir, `${name.replace(/\W/g, '')}-ca.pem`);
  const cfg = writeFile(dir, 'ca-req.cnf', `[req]\ndistinguished_name=dn\nx509_extensions=v3_ca\nprompt=no\n[dn]\nO=sandbox-test\nCN=${name}\n[v3_ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n`);
  run('openssl', ['req', '-x509', '-new', '-key', keyFile, '-days', '30', '-sha256', '-out', certFile, '-config', cfg], dir);
  const certPem = fs.readFileSync(certFile, 'utf8');
  let serial = 1;
  return {
    certPem,
    certDer: pemToDer(certPem),
    certFile,
    issue(leaf, san, issuer, days = 1) {
      const n = serial++;
      const leafKey = writeFile(dir, `leaf${n}.key`, leaf.privatePem);
      const csr = path.join(dir, `leaf${n}.csr`);
      run('openssl', ['req', '-new', '-key', leafKey, '-subj', '/O=sigstore-test', '-out', csr], dir);
      const sanLine = san.email ? `email:${san.email}` : `URI:${san.uri}`;
      const extFile = writeFile(
        dir,
        `leaf${n}.cnf`,
        `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\nsubjectAltName=critical,${sanLine}\n1.3.6.1.4.1.57264.1.8=ASN1:UTF8String:${issuer}\n`,
      );
      const out = path.join(dir, `leaf${n}.pem`);
      run('openssl', ['x509', '-req', '-in', csr, '-CA', certFile, '-CAkey', keyFile, '-set_serial', String(1000 + n), '-days', String(days), '-sha256', '-extfile', extFile, '-out', out], dir);
      return pemToDer(fs.readFileSync(out, 'utf8'));
    },
  };
}

export interface TestLog {
  key: KeyPair;
  logId: Buffer;
  /** Origin/name used in checkpoints; must appear in the trusted root's baseUrl. */
  name: string;
  baseUrl: string;
}

export function makeLog(name = 'rekor.test'): TestLog {
  const key = ecKeyPair();
  const der = key.publicKey.export({ type: 'spki', format: 'der' });
  return { key, logId: createHash('sha256').update(der).digest(), name, baseUrl: `https://${name}` };
}

export type Content =
  | { kind: 'message'; artifact: Buffer }
  | { kind: 'dsse'; statement: Record<string, unknown>; payloadType?: string };

export interface BundleOptions {
  content: Content;
  signer: KeyPair;
  /** DER leaf certificate (keyless); without it the bundle carries a public-key hint. */
  certDer?: Buffer;
  log?: TestLog;
  integratedTime?: number;
  /** 'v0.1': inclusion promise only; 'v0.2'/'v0.3': inclusion proof + signed checkpoint (+ promise). */
  version?: 'v0.1' | 'v0.2' | 'v0.3';
}

const b64 = (b: Buffer | string): string => Buffer.from(b).toString('base64');

/** The in-toto statement cosign v3 signs for an image manifest digest. */
export function cosignStatement(manifestDigest: string, predicateType = 'https://sigstore.dev/cosign/sign/v1'): Record<string, unknown> {
  return {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'example.test/app', digest: { sha256: manifestDigest.replace('sha256:', '') } }],
    predicateType,
    predicate: {},
  };
}

/** Builds a serialized sigstore bundle exactly as a sigstore signer would. */
export function makeBundle(o: BundleOptions): string {
  const version = o.version ?? 'v0.3';
  let content: Record<string, unknown>;
  let signature: Buffer;
  let body: Record<string, unknown> | undefined;
  const verifierPem = o.certDer ? `-----BEGIN CERTIFICATE-----\n${b64(o.certDer)}\n-----END CERTIFICATE-----\n` : o.signer.publicPem;
  if (o.content.kind === 'message') {
    const digest = createHash('sha256').update(o.content.artifact).digest();
    signature = cryptoSign('sha256', o.content.artifact, o.signer.privateKey);
    content = { messageSignature: { messageDigest: { algorithm: 'SHA2_256', digest: b64(digest) }, signature: b64(signature) } };
    body = {
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: { data: { hash: { algorithm: 'sha256', value: digest.toString('hex') } }, signature: { content: b64(signature), publicKey: { content: b64(verifierPem) } } },
    };
  } else {
    const payloadType = o.content.payloadType ?? 'application/vnd.in-toto+json';
    const payload = Buffer.from(JSON.stringify(o.content.statement));
    signature = cryptoSign('sha256', dsse.preAuthEncoding(payloadType, payload), o.signer.privateKey);
    content = { dsseEnvelope: { payload: b64(payload), payloadType, signatures: [{ sig: b64(signature), keyid: '' }] } };
    body = {
      apiVersion: '0.0.1',
      kind: 'dsse',
      spec: { payloadHash: { algorithm: 'sha256', value: sha256hex(payload) }, signatures: [{ signature: b64(signature), verifier: b64(verifierPem) }] },
    };
  }
  const tlogEntries: unknown[] = [];
  if (o.log) {
    const canonicalized = Buffer.from(sjson.canonicalize(body));
    const integratedTime = o.integratedTime ?? Math.floor(Date.now() / 1000);
    const set = cryptoSign('sha256', Buffer.from(sjson.canonicalize({ body: b64(canonicalized), integratedTime, logIndex: 0, logID: o.log.logId.toString('hex') })), o.log.key.privateKey);
    const entry: Record<string, unknown> = {
      logIndex: '0',
      logId: { keyId: b64(o.log.logId) },
      kindVersion: { kind: (body as { kind: string }).kind, version: '0.0.1' },
      integratedTime: String(integratedTime),
      inclusionPromise: { signedEntryTimestamp: b64(set) },
      canonicalizedBody: b64(canonicalized),
    };
    if (version !== 'v0.1') {
      // One-leaf tree: the root is the leaf hash; the checkpoint is a signed note over it.
      const root = createHash('sha256').update(Buffer.concat([Buffer.from([0]), canonicalized])).digest();
      const note = `${o.log.name} - 1\n1\n${b64(root)}\n`;
      const sig = cryptoSign('sha256', Buffer.from(note), o.log.key.privateKey);
      const envelope = `${note}\n\u2014 ${o.log.name} ${b64(Buffer.concat([o.log.logId.subarray(0, 4), sig]))}\n`;
      entry.inclusionProof = { logIndex: '0', rootHash: b64(root), treeSize: '1', hashes: [], checkpoint: { envelope } };
    }
    tlogEntries.push(entry);
  }
  const material: Record<string, unknown> = o.certDer
    ? version !== 'v0.3'
      ? { x509CertificateChain: { certificates: [{ rawBytes: b64(o.certDer) }] } }
      : { certificate: { rawBytes: b64(o.certDer) } }
    : { publicKey: { hint: b64(createHash('sha256').update(o.signer.publicKey.export({ type: 'spki', format: 'der' })).digest()) } };
  return JSON.stringify({
    mediaType: version === 'v0.3' ? 'application/vnd.dev.sigstore.bundle.v0.3+json' : `application/vnd.dev.sigstore.bundle+json;version=${version.slice(1)}`,
    verificationMaterial: { ...material, tlogEntries, timestampVerificationData: { rfc3161Timestamps: [] } },
    ...content,
  });
}

/** A sigstore trusted_root.json naming the test CA and log (validity starts set, as required). */
export function trustedRootJson(opts: { ca?: TestCA; log?: TestLog; logValidFor?: { start: string; end?: string }; caValidFor?: { start?: string; end?: string } }): string {
  const start = '2020-01-01T00:00:00Z';
  const root: Record<string, unknown> = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: opts.log
      ? [{
          baseUrl: opts.log.baseUrl,
          hashAlgorithm: 'SHA2_256',
          publicKey: { rawBytes: b64(opts.log.key.publicKey.export({ type: 'spki', format: 'der' })), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: opts.logValidFor ?? { start } },
          logId: { keyId: b64(opts.log.logId) },
        }]
      : [],
    certificateAuthorities: opts.ca
      ? [{ subject: { organization: 'sandbox-test', commonName: 'Test Fulcio CA' }, uri: 'https://fulcio.test', certChain: { certificates: [{ rawBytes: b64(opts.ca.certDer) }] }, validFor: opts.caValidFor ?? { start } }]
      : [],
    ctlogs: [],
    timestampAuthorities: [],
  };
  return JSON.stringify(root);
}

export function publicKeyDerB64(k: KeyObject): string {
  return b64(createPublicKey(k).export({ type: 'spki', format: 'der' }));
}

/** Headers of `count` empty files named by `nameOf(i)` (ASCII, ≤100 bytes), fast (for entry bombs). */
export function emptyFileHeaders(from: number, to: number, nameOf: (i: number) => string): Buffer {
  const template = rawHeader('', '0', 0, 0o644, '', 1_700_000_000);
  template.write('        ', 148);
  let base = 0;
  for (const b of template) base += b;
  const out = Buffer.alloc((to - from) * 512);
  for (let i = from; i < to; i++) {
    const off = (i - from) * 512;
    template.copy(out, off);
    const name = nameOf(i);
    out.write(name, off, 'latin1');
    let sum = base;
    for (let k = 0; k < name.length; k++) sum += name.charCodeAt(k);
    out.write(octal(sum, 7) + ' ', off + 148, 'latin1');
  }
  return out;
}
