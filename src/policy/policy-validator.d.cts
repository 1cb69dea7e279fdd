// Type of the validator generated at build time (scripts/postbuild.mjs → dist/src/policy/policy-validator.cjs).
import type { ErrorObject } from 'ajv';

declare const validate: {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
};
export = validate;
