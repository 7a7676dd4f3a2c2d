import { describe, expect, it } from 'vitest';
import { leftoverProcesses, summaryLine } from '../../scripts/test-report.ts';

describe('test summary line', () => {
  it.each([
    [{ numPassedTests: 12, numFailedTests: 0, numPendingTests: 0, numTodoTests: 0 }, '12 passed, 0 failed'],
    [
      { numPassedTests: 3, numFailedTests: 2, numPendingTests: 1, numTodoTests: 1 },
      '3 passed, 2 failed, 2 skipped',
    ],
  ])('%j -> %s', (report, line) => {
    expect(summaryLine(report)).toBe(line);
  });
});

describe('leftover harness processes', () => {
  const log = '100 /bin/etcd\n200 /bin/kube-apiserver\n300 /bin/kube-scheduler\n\ngarbage\n';
  it('reports pids that still run the same executable, ignores reused or dead pids', () => {
    const running: Record<number, string> = { 100: '/bin/etcd', 200: '/usr/bin/sleep' };
    expect(leftoverProcesses(log, (pid) => running[pid] ?? null)).toEqual(['100 (/bin/etcd)']);
  });
  it('is empty when every process is gone', () => {
    expect(leftoverProcesses(log, () => null)).toEqual([]);
  });
});
