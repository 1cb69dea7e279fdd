#!/usr/bin/env node
/**
 * Generates src/seccomp/tables/syscalls.generated.ts from the syscall tables of hrw/syscalls-table
 * (MIT), vendored unchanged in src/seccomp/tables/source/ (a copy of ../shared/data/syscalls, with
 * its LICENSE and SOURCE.md) so that the generation is reproducible from the repository alone.
 * Run from anywhere:
 *
 *   node src/seccomp/scripts/gen-tables.mjs [SOURCE_DIR] [OUT_FILE]
 *
 * The output is deterministic (sorted by name), so a test can regenerate it and compare.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sourceDir = resolve(process.argv[2] ?? join(here, '..', 'tables', 'source'));
const outFile = resolve(process.argv[3] ?? join(here, '..', 'tables', 'syscalls.generated.ts'));

/** Our arch name → file suffix in the source data. */
const ARCHES = [
  ['x86_64', 'x86_64'],
  ['aarch64', 'arm64'],
  ['i386', 'i386'],
  ['arm', 'arm'],
  ['x32', 'x32'],
];

function readTable(suffix) {
  const text = readFileSync(join(sourceDir, `syscalls-${suffix}`), 'utf8');
  const entries = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const parts = line.split('\t');
    if (parts.length === 1) continue; // a name with no number: not on this arch
    if (parts.length !== 2 || !/^[a-z_][a-z0-9_]*$/.test(parts[0]) || !/^[0-9]+$/.test(parts[1])) {
      throw new Error(`syscalls-${suffix}:${i + 1}: expected "name<TAB>number", got ${JSON.stringify(line)}`);
    }
    entries.push([parts[0], Number(parts[1])]);
  }
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return entries;
}

function sourceCommit() {
  const text = readFileSync(join(sourceDir, 'SOURCE.md'), 'utf8');
  const m = /at commit ([0-9a-f]{40})/.exec(text);
  if (!m) throw new Error(`${sourceDir}/SOURCE.md: no "at commit <sha>" line`);
  return m[1];
}

const license = readFileSync(join(sourceDir, 'LICENSE'), 'utf8').trimEnd();
const commit = sourceCommit();

let out = '';
out += '/* GENERATED FILE - do not edit. Regenerate with: node src/seccomp/scripts/gen-tables.mjs\n';
out += ' *\n';
out += ` * Source: https://github.com/hrw/syscalls-table, files data/tables/syscalls-<arch>, commit ${commit}.\n`;
out += ' * The data is used under the MIT licence of that project:\n *\n';
for (const l of license.split('\n')) out += (' * ' + l).trimEnd() + '\n';
out += ' */\n\n';
out += `export const SYSCALL_TABLE_SOURCE = {\n`;
out += `  repository: 'hrw/syscalls-table',\n  commit: '${commit}',\n  license: 'MIT',\n`;
out += `  copyright: 'Copyright (c) Marcin Juszkiewicz',\n} as const;\n\n`;
out += `/** name → number, per arch. x32 numbers include the 0x40000000 bit. */\n`;
out += `export const SYSCALL_TABLES: Readonly<Record<'x86_64' | 'aarch64' | 'i386' | 'arm' | 'x32', Readonly<Record<string, number>>>> = {\n`;
for (const [arch, suffix] of ARCHES) {
  out += `  ${arch}: {\n`;
  for (const [name, nr] of readTable(suffix)) out += `    ${name}: ${nr},\n`;
  out += `  },\n`;
}
out += `};\n`;

writeFileSync(outFile, out);
process.stdout.write(`wrote ${outFile}\n`);
