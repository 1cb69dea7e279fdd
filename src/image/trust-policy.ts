/**
 * Trust policy files, in the vocabulary of containers-policy.json (containers/image):
 *
 *   { "default": [REQ, ...], "scopes": { "NAME": [REQ, ...], "NAME:TAG": [REQ, ...] } }
 *
 *   REQ = {"type": "reject"}
 *       | {"type": "insecureAcceptAnything"}
 *       | {"type": "sigstoreSigned",
 *          keyPath | keyPaths | keyData | keyDatas            (keyed: PEM public keys; *Data is base64 of the PEM)
 *          | fulcio: {caPath | caData, oidcIssuer, subjectEmail | subjectURI}   (keyless),
 *          rekorPublicKeyPath | rekorPublicKeyData,            (transparency log key)
 *          trustedRootPath }                                   (a sigstore trusted_root.json)
 *
 * Every requirement of the chosen list must be satisfied. The most specific scope wins
 * (NAME:TAG, then NAME, then default). Unknown fields anywhere reject the whole file: a typo in a
 * security policy must not silently weaken it. Relative paths are relative to the policy file.
 * Keyless requirements need a CA and a log key (fulcio.caPath + rekorPublicKey*) or a trusted root.
 */
import path from 'node:path';
import { Ajv } from 'ajv';
import { SandboxError } from '../errors.js';
import { readConfigFile } from '../policy/read-config-file.js';
import { parseStrictJson } from './strict-json.js';

export interface FulcioRequirement {
  caPath?: string;
  caData?: string;
  oidcIssuer: string;
  subjectEmail?: string;
  subjectURI?: string;
}

export type Requirement =
  | { type: 'reject' }
  | { type: 'insecureAcceptAnything' }
  | {
      type: 'sigstoreSigned';
      keyPath?: string;
      keyPaths?: string[];
      keyData?: string;
      keyDatas?: string[];
      fulcio?: FulcioRequirement;
      rekorPublicKeyPath?: string;
      rekorPublicKeyData?: string;
      trustedRootPath?: string;
    };

export type SigstoreRequirement = Extract<Requirement, { type: 'sigstoreSigned' }>;

export interface TrustPolicy {
  file: string;
  default: Requirement[];
  scopes: Record<string, Requirement[]>;
}

const nonEmpty = { type: 'string', minLength: 1 };
const requirementSchema = {
  oneOf: [
    { type: 'object', additionalProperties: false, required: ['type'], properties: { type: { const: 'reject' } } },
    { type: 'object', additionalProperties: false, required: ['type'], properties: { type: { const: 'insecureAcceptAnything' } } },
    {
      type: 'object',
      additionalProperties: false,
      required: ['type'],
      properties: {
        type: { const: 'sigstoreSigned' },
        keyPath: nonEmpty,
        keyPaths: { type: 'array', minItems: 1, items: nonEmpty },
        keyData: nonEmpty,
        keyDatas: { type: 'array', minItems: 1, items: nonEmpty },
        fulcio: {
          type: 'object',
          additionalProperties: false,
          required: ['oidcIssuer'],
          properties: {
            caPath: nonEmpty,
            caData: nonEmpty,
            oidcIssuer: nonEmpty,
            subjectEmail: nonEmpty,
            subjectURI: nonEmpty,
          },
        },
        rekorPublicKeyPath: nonEmpty,
        rekorPublicKeyData: nonEmpty,
        trustedRootPath: nonEmpty,
      },
    },
  ],
};
const policySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['default'],
  properties: {
    default: { type: 'array', minItems: 1, items: requirementSchema },
    scopes: {
      type: 'object',
      propertyNames: { pattern: '^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$' },
      additionalProperties: { type: 'array', minItems: 1, items: requirementSchema },
    },
  },
};

const validate = new Ajv({ allErrors: false, strict: true }).compile(policySchema);

function invalid(file: string, message: string): never {
  throw new SandboxError('TRUST', `trust policy ${file}: ${message}`, { reason: 'policy-invalid', file });
}

/** Semantic checks the schema cannot express; also resolves relative paths. */
function normalize(req: Requirement, file: string, where: string): Requirement {
  if (req.type !== 'sigstoreSigned') return req;
  const dir = path.dirname(file);
  const abs = (p: string | undefined): string | undefined => (p === undefined ? undefined : path.resolve(dir, p));
  const keyed = [req.keyPath, req.keyPaths, req.keyData, req.keyDatas].filter((x) => x !== undefined).length;
  if (keyed + (req.fulcio ? 1 : 0) !== 1) {
    invalid(file, `${where}: sigstoreSigned needs exactly one of keyPath, keyPaths, keyData, keyDatas or fulcio`);
  }
  if (req.rekorPublicKeyPath && req.rekorPublicKeyData) invalid(file, `${where}: give rekorPublicKeyPath or rekorPublicKeyData, not both`);
  const out: SigstoreRequirement = { type: 'sigstoreSigned' };
  if (req.keyPath) out.keyPath = abs(req.keyPath)!;
  if (req.keyPaths) out.keyPaths = req.keyPaths.map((p) => abs(p)!);
  if (req.keyData) out.keyData = req.keyData;
  if (req.keyDatas) out.keyDatas = req.keyDatas;
  if (req.rekorPublicKeyPath) out.rekorPublicKeyPath = abs(req.rekorPublicKeyPath)!;
  if (req.rekorPublicKeyData) out.rekorPublicKeyData = req.rekorPublicKeyData;
  if (req.trustedRootPath) out.trustedRootPath = abs(req.trustedRootPath)!;
  if (req.fulcio) {
    const f = req.fulcio;
    if ((f.subjectEmail === undefined) === (f.subjectURI === undefined)) invalid(file, `${where}: fulcio needs exactly one of subjectEmail or subjectURI`);
    if (f.caPath && f.caData) invalid(file, `${where}: fulcio needs caPath or caData, not both`);
    const hasCa = f.caPath !== undefined || f.caData !== undefined;
    const hasRekor = out.rekorPublicKeyPath !== undefined || out.rekorPublicKeyData !== undefined;
    if (!out.trustedRootPath && !(hasCa && hasRekor)) {
      invalid(file, `${where}: keyless (fulcio) verification needs fulcio.caPath/caData plus rekorPublicKeyPath/Data, or trustedRootPath`);
    }
    out.fulcio = { ...f };
    if (f.caPath) out.fulcio.caPath = abs(f.caPath)!;
  }
  return out;
}

export function parseTrustPolicy(bytes: Buffer, file: string): TrustPolicy {
  const doc = parseStrictJson(bytes, `trust policy ${file}`, 'TRUST');
  if (!validate(doc)) {
    const e = validate.errors?.[0];
    invalid(file, `${e?.instancePath || '/'} ${e?.message ?? 'is invalid'}${e?.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`);
  }
  const raw = doc as { default: Requirement[]; scopes?: Record<string, Requirement[]> };
  // no prototype: a scope named `constructor` or `__proto__` is a scope, not Object.prototype's member
  const scopes: Record<string, Requirement[]> = Object.create(null) as Record<string, Requirement[]>;
  for (const [k, v] of Object.entries(raw.scopes ?? {})) scopes[k] = v.map((r, i) => normalize(r, file, `scopes[${k}][${i}]`));
  return { file, default: raw.default.map((r, i) => normalize(r, file, `default[${i}]`)), scopes };
}

export function loadTrustPolicy(file: string): TrustPolicy {
  const bytes = readConfigFile(file, (why, errno) => {
    if (errno) {
      throw new SandboxError('TRUST', `cannot read trust policy ${file} (${errno}); create it or pass --trust-policy FILE`, { reason: 'policy-missing', file });
    }
    invalid(file, `${why}; pass a trust policy file with --trust-policy FILE`);
  });
  return parseTrustPolicy(bytes, file);
}

/** The requirement list for an image called NAME:TAG (either may be absent). */
export function requirementsFor(policy: TrustPolicy, name?: string, tag?: string): { scope: string; requirements: Requirement[] } {
  // own keys only (a policy object built elsewhere may have a prototype): `--name constructor` found
  // Object.prototype.constructor and crashed
  const scope = (key: string) => (Object.hasOwn(policy.scopes, key) ? policy.scopes[key] : undefined);
  if (name !== undefined && tag !== undefined && scope(`${name}:${tag}`)) return { scope: `${name}:${tag}`, requirements: scope(`${name}:${tag}`)! };
  if (name !== undefined && scope(name)) return { scope: name, requirements: scope(name)! };
  return { scope: 'default', requirements: policy.default };
}
