/**
 * The JSON Schema of our seccomp section format (schema.json, which the project's policy schema also
 * references), as an object for validators in this module.
 */
import schema from './schema.json' with { type: 'json' };

export const SECCOMP_SECTION_SCHEMA = schema;
