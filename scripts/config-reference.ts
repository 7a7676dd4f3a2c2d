// Prints the configuration reference table generated from src/config/schema.ts; with --write, replaces the
// copy in README.md between <!-- config-reference:start --> and <!-- config-reference:end -->.
// test/unit/config.test.ts fails when README.md is out of date.

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderReferenceTable, replaceReferenceSection } from '../src/config/reference.ts';

const readmePath = fileURLToPath(new URL('../README.md', import.meta.url));
const table = renderReferenceTable();

if (process.argv.includes('--write')) {
  const before = readFileSync(readmePath, 'utf8');
  const after = replaceReferenceSection(before, table);
  if (after !== before) writeFileSync(readmePath, after);
  process.stdout.write(after === before ? 'README.md is up to date\n' : 'README.md updated\n');
} else {
  process.stdout.write(`${table}\n`);
}
