// Prints the `N passed, N failed` line of a vitest JSON report (used by .ci/run).
import { readFileSync } from 'node:fs';
import { summaryLine, type VitestJsonReport } from './test-report.ts';

const file = process.argv[2] ?? 'reports/vitest.json';
console.log(summaryLine(JSON.parse(readFileSync(file, 'utf8')) as VitestJsonReport));
