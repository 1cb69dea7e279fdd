/**
 * Schema validation of policy files with ajv. Errors name the file, the JSON pointer and what is
 * allowed there, e.g. "strict.json: /filesystem/tmp/size: must be a size like 64M (got "64 MB")".
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { SandboxError } from '../errors.js';
import { policiesDir } from './paths.js';

let validator: ValidateFunction | null = null;

function compile(): ValidateFunction {
  if (validator) return validator;
  const schema = JSON.parse(readFileSync(`${policiesDir()}/schema.json`, 'utf8'));
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
  validator = ajv.compile(schema);
  return validator;
}

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
  const validate = compile();
  if (validate(doc)) return;
  const errors = validate.errors ?? [];
  const oneOf = errors.find((e) => e.keyword === 'oneOf');
  const chosen = oneOf && !errors.some((e) => e.instancePath.length > oneOf.instancePath.length) ? oneOf : pick(errors);
  const pointer = chosen.instancePath || '/';
  throw new SandboxError('POLICY_INVALID', `${file}: ${pointer}: ${describe(chosen)}`, {
    file,
    pointer,
    keyword: chosen.keyword,
  });
}
