import { readFileSync } from 'node:fs';

/** The fields of vitest's JSON reporter output that the summary needs. */
export interface VitestJsonReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
}

/** `N passed, N failed` plus `, N skipped` when any test was skipped or todo. */
export function summaryLine(r: VitestJsonReport): string {
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  return `${r.numPassedTests} passed, ${r.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`;
}

/** Lines `pid exe` whose process still runs that same executable. */
export function leftoverProcesses(
  log: string,
  argv0Of: (pid: number) => string | null = readArgv0,
): string[] {
  const out: string[] = [];
  for (const line of log.split('\n')) {
    const m = /^(\d+) (.+)$/.exec(line.trim());
    if (!m?.[1] || !m[2]) continue;
    const pid = Number(m[1]);
    if (argv0Of(pid) === m[2]) out.push(`${pid} (${m[2]})`);
  }
  return out;
}

function readArgv0(pid: number): string | null {
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
    return argv0 || null;
  } catch {
    return null;
  }
}
