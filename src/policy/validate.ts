/**
 * Schema validation of policy files. The validator is generated from policies/schema.json at build
 * time (scripts/postbuild.mjs, ajv standalone) so that a start of `sandbox exec` does not compile a
 * JSON Schema. Errors name the file, the JSON pointer and what is allowed there, e.g.
 * "strict.json: /filesystem/tmp/size: must be bytes, or a number with a binary unit … (got "64 MB")".
 */
import type { ErrorObject } from 'ajv';
import { SandboxError } from '../errors.js';

// Generated next to this file by the build (scripts/postbuild.mjs) from policies/schema.json.
import validator from './policy-validator.cjs';

function describe(e: ErrorObject): string {
  const schema = (e.parentSchema ?? {}) as { description?: string; properties?: Record<string, unknown> };
  switch (e.keyword) {
    case 'additionalProperties': {
      const allowed = Object.keys(schema.properties ?? {}).join(', ');
      return `unknown property '${(e.params as { additionalProperty: string }).additionalProperty}'; allowed here: ${allowed}`;
    }
    case 'enum':
      return `must be one of: ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')} (got ${JSON.stringify(e.data)})`;
    case 'pattern':
    case 'type':
    case 'oneOf':
      return schema.description
        ? `must be ${schema.description} (got ${JSON.stringify(e.data)})`
        : `${e.message} (got ${JSON.stringify(e.data)})`;
    default:
      return `${e.message ?? 'is invalid'} (got ${JSON.stringify(e.data)})`;
  }
}

/** The most useful error: the deepest one, preferring concrete keywords over oneOf/anyOf summaries. */
function pick(errors: ErrorObject[]): ErrorObject {
  const concrete = errors.filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'anyOf' && e.keyword !== 'if');
  const pool = concrete.length > 0 ? concrete : errors;
  return pool.reduce((best, e) => (e.instancePath.length > best.instancePath.length ? e : best));
}

export function validatePolicyDocument(doc: unknown, file: string): void {
  if (validator(doc)) return;
  const errors = validator.errors ?? [];
  const oneOf = errors.find((e) => e.keyword === 'oneOf');
  const chosen = oneOf && !errors.some((e) => e.instancePath.length > oneOf.instancePath.length) ? oneOf : pick(errors);
  const pointer = chosen.instancePath || '/';
  throw new SandboxError('POLICY_INVALID', `${file}: ${pointer}: ${describe(chosen)}`, {
    file,
    pointer,
    keyword: chosen.keyword,
  });
}
