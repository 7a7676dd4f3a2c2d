// Renders the configuration reference (one row per field) from the schema, and keeps README.md's copy
// between two markers in step with it: `scripts/config-reference.ts --write` rewrites it, and a unit test
// fails when the two differ, so the documentation cannot drift from the code.

import { FIELDS, type FieldInfo } from './fields.ts';

export const REFERENCE_START = '<!-- config-reference:start -->';
export const REFERENCE_END = '<!-- config-reference:end -->';

const HEADER = ['field', 'type', 'default', 'allowed', 'environment variable', 'description'];

const code = (text: string) => `\`${text}\``;
const escapeCell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

function defaultCell(f: FieldInfo): string {
  if (f.defaultText !== undefined) return f.defaultText;
  if (f.defaultValue === undefined) return 'unset';
  return code(typeof f.defaultValue === 'string' ? f.defaultValue : JSON.stringify(f.defaultValue));
}

function row(f: FieldInfo): string[] {
  return [code(f.name), f.kind, defaultCell(f), f.allowed, code(f.envVar), f.description].map(escapeCell);
}

/** A Markdown table padded the way Prettier pads it, so formatting the README leaves it unchanged. */
export function renderReferenceTable(fields: readonly FieldInfo[] = FIELDS): string {
  const rows = [HEADER, ...fields.map(row)];
  const widths = HEADER.map((_, c) => Math.max(3, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join(' | ')} |`;
  const [head = [], ...body] = rows;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

function markerOffsets(readme: string): { start: number; end: number } {
  const start = readme.indexOf(REFERENCE_START);
  const end = readme.indexOf(REFERENCE_END);
  if (start < 0 || end < start)
    throw new Error(`README has no ${REFERENCE_START} ... ${REFERENCE_END} block`);
  return { start: start + REFERENCE_START.length, end };
}

/** The text between the markers. */
export function extractReferenceSection(readme: string): string {
  const { start, end } = markerOffsets(readme);
  return readme.slice(start, end).trim();
}

/** The README with the text between the markers replaced by `table`. */
export function replaceReferenceSection(readme: string, table: string): string {
  const { start, end } = markerOffsets(readme);
  return `${readme.slice(0, start)}\n\n${table}\n\n${readme.slice(end)}`;
}

/** Table text with cell padding and delimiter lengths ignored (what a formatter may change). */
export function normalizeTable(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) =>
      l.startsWith('|')
        ? l
            .split(/(?<!\\)\|/)
            .map((cell) => cell.trim().replace(/^:?-{3,}:?$/, '---'))
            .join('|')
        : l,
    )
    .join('\n');
}
