import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: dist/src/policy/paths.js → ../../.. */
export function packageRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
}

/** Built-in policies (and schema.json) shipped with the package. */
export function policiesDir(): string {
  return resolve(packageRoot(), 'policies');
}
