/**
 * Policy resolution: a name (policies/NAME.json) or a path, then its `extends` chain, validated file by
 * file, merged base-first onto `default` (every policy implicitly extends it).
 */
import { readdirSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { SandboxError } from '../errors.js';
import { mergePolicy, type Json } from './merge.js';
import { policiesDir } from './paths.js';
import { readConfigFile } from './read-config-file.js';
import type { Policy, ResolvedPolicy } from './types.js';
import { validatePolicyDocument } from './validate.js';
import { VALIDATED_AT_BUILD } from './validated-at-build.js';

const MAX_DEPTH = 8;

let builtins: string[] | null = null;

/** The policies shipped in the package (read once: they do not change while we run). */
export function builtinPolicyNames(): string[] {
  builtins ??= readdirSync(policiesDir())
    .filter((f) => f.endsWith('.json') && f !== 'schema.json')
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
  return [...builtins];
}

function looksLikePath(ref: string): boolean {
  return ref.includes('/') || ref.endsWith('.json');
}

/** Resolve a --policy or `extends` reference to a file. Relative paths are relative to `fromDir`. */
export function policyFile(ref: string, fromDir: string): string {
  if (looksLikePath(ref)) return isAbsolute(ref) ? ref : resolve(fromDir, ref);
  if (!/^[A-Za-z0-9_.-]+$/.test(ref) || !builtinPolicyNames().includes(ref)) {
    throw new SandboxError('POLICY_NOT_FOUND',
      `no policy named '${ref}'; built-in policies: ${builtinPolicyNames().join(', ')} (or give a path to a .json file)`,
      { ref });
  }
  return resolve(policiesDir(), `${ref}.json`);
}

/**
 * Validated documents by file and exact text. A judge loads the same policy for every run: the files
 * are read each time (an edited file is parsed and validated again), only the parse and the schema
 * check of unchanged text are skipped. The documents are never mutated (mergePolicy copies).
 */
const validated = new Map<string, { text: string; doc: Record<string, Json> }>();

/** Merged policies by chain, for documents that are the very objects of `validated` (same texts). */
const mergedChains = new Map<string, { docs: Record<string, Json>[]; result: ResolvedPolicy }>();

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= 64) map.clear();
  map.set(key, value);
}

export function readPolicyDocument(file: string): Record<string, Json> {
  // a regular file of at most 4 MiB: /dev/zero, a FIFO or a directory is refused, not read
  const text = readConfigFile(file, (why, errno) => {
    throw new SandboxError(errno === 'ENOENT' ? 'POLICY_NOT_FOUND' : 'POLICY_INVALID', `cannot read policy ${file}: ${why}`, { file });
  }).toString('utf8');
  const known = validated.get(file);
  if (known && known.text === text) return known.doc;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new SandboxError('POLICY_INVALID', `${file}: invalid JSON: ${(e as Error).message}`, { file, pointer: '' });
  }
  // A shipped policy's text, exactly as the build validated it against the same schema: validation is
  // a function of the text, so its answer is known. Anything else — a user's file, a shipped file
  // edited after the build — is validated here.
  if (!VALIDATED_AT_BUILD.has(text)) validatePolicyDocument(doc, file);
  remember(validated, file, { text, doc: doc as Record<string, Json> });
  return doc as Record<string, Json>;
}

/** The chain of files, base first: [default.json, ..., file]. */
function chain(file: string): { file: string; doc: Record<string, Json> }[] {
  const out: { file: string; doc: Record<string, Json> }[] = [];
  let current: string | null = file;
  while (current) {
    if (out.some((c) => c.file === current)) {
      // `out` is base-first: reversed, it is the order the chain was followed in.
      const visited = [...out].reverse().map((c) => basename(c.file));
      const closing = out[0]!.file;
      throw new SandboxError('POLICY_INVALID', `${closing}: /extends: cycle (${[...visited, basename(current)].join(' → ')})`, { file: closing, pointer: '/extends' });
    }
    if (out.length >= MAX_DEPTH) {
      throw new SandboxError('POLICY_INVALID', `${file}: /extends: chain longer than ${MAX_DEPTH} files`, { file, pointer: '/extends' });
    }
    const doc = readPolicyDocument(current);
    out.unshift({ file: current, doc });
    const ext = doc['extends'];
    current = typeof ext === 'string' ? policyFile(ext, dirname(current)) : null;
  }
  const defaultFile = resolve(policiesDir(), 'default.json');
  if (out[0]!.file !== defaultFile) out.unshift({ file: defaultFile, doc: readPolicyDocument(defaultFile) });
  return out;
}

export function loadPolicy(ref: string, cwd: string = process.cwd()): ResolvedPolicy {
  const files = chain(policyFile(ref, cwd));
  const key = files.map((f) => f.file).join('\0');
  const known = mergedChains.get(key);
  // the caller may change its copy (limits, image user): every call gets its own
  if (known && known.docs.every((d, i) => d === files[i]!.doc)) return structuredClone(known.result);
  const result = mergeChain(files);
  remember(mergedChains, key, { docs: files.map((f) => f.doc), result: structuredClone(result) });
  return result;
}

function mergeChain(files: { file: string; doc: Record<string, Json> }[]): ResolvedPolicy {
  let merged: Json = {};
  let seccompBaseDir = policiesDir();
  for (const { file, doc } of files) {
    if ('seccomp' in doc) {
      // A seccomp setting is one profile: replaced as a whole, never merged key by key.
      delete (merged as Record<string, Json>)['seccomp'];
      seccompBaseDir = dirname(file);
    }
    merged = mergePolicy(merged, doc);
  }
  const policy = merged as unknown as Policy & { extends?: string; $schema?: string };
  delete policy.extends;
  delete policy.$schema;
  // A policy's name and description are its own, never inherited from what it extends.
  const own = files[files.length - 1]!;
  policy.name = typeof own.doc['name'] === 'string' ? own.doc['name'] : basename(own.file, '.json');
  policy.description = typeof own.doc['description'] === 'string' ? own.doc['description'] : '';
  return { policy, files: files.map((f) => f.file), seccompBaseDir };
}
