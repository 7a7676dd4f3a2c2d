// Runs every vitest project once, then prints the one-line summary CI reads (`N passed, N failed`)
// from vitest's JSON report, and fails the run if any process the cluster harness started is alive.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { leftoverProcesses, summaryLine, type VitestJsonReport } from './test-report.ts';

const reports = join(process.cwd(), 'reports');
mkdirSync(reports, { recursive: true });
const reportFile = join(reports, 'vitest.json');
const pidLog = join(reports, 'harness-pids.log');
rmSync(reportFile, { force: true });
rmSync(pidLog, { force: true });

const extra = process.argv.slice(2);
const vitest = join(process.cwd(), 'node_modules', 'vitest', 'vitest.mjs');
const res = spawnSync(
  process.execPath,
  [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${reportFile}`, ...extra],
  { stdio: 'inherit', env: { ...process.env, CAPI_AUTOPILOT_PID_LOG: pidLog } },
);
let code = res.status ?? 1;

const leftovers = existsSync(pidLog) ? leftoverProcesses(readFileSync(pidLog, 'utf8')) : [];
if (leftovers.length > 0) {
  console.error(`harness processes still alive after the tests: ${leftovers.join(', ')}`);
  code = code || 1;
}
if (existsSync(reportFile)) {
  console.log(summaryLine(JSON.parse(readFileSync(reportFile, 'utf8')) as VitestJsonReport));
} else {
  console.error('vitest wrote no JSON report');
  code = code || 1;
}
process.exit(code);
