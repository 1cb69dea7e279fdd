import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | null = null;

/**
 * The package root: the nearest directory above this module whose package.json is ours. Found by
 * walking up, so it holds for the tsc output (dist/src/…) and for the bundled CLI (dist/bin/…) alike.
 */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'sandbox') return (root = dir);
    const parent = dirname(dir);
    if (parent === dir) throw new Error('sandbox: cannot find the package root (package.json) above the installed files');
    dir = parent;
  }
}

/** Built-in policies (and schema.json) shipped with the package. */
export function policiesDir(): string {
  return resolve(packageRoot(), 'policies');
}
