import { describe, expect, it } from 'vitest';
import { staleVerdict, type ClusterState } from '../../src/sandbox/state.ts';

const state = (detached: boolean): ClusterState => ({
  name: 'c',
  detached,
  owner: { pid: 10, startTicks: '5' },
  kubeconfig: '/k',
  server: 'https://127.0.0.1:1',
  binDir: '/b',
  processes: [
    { name: 'etcd', pid: 11, exe: '/b/etcd' },
    { name: 'kube-apiserver', pid: 12, exe: '/b/kube-apiserver' },
  ],
  createdAt: '2026-01-01T00:00:00Z',
});

describe('staleVerdict', () => {
  it.each([
    // detached, owner alive, running pids, verdict
    [false, true, [11, 12], 'keep'],
    [false, true, [], 'keep'], // still starting: owner alive, nothing launched yet
    [false, false, [11], 'reap'], // crashed test run left etcd behind
    [false, false, [], 'forget'],
    [true, false, [11, 12], 'keep'], // `sandbox up` exited on purpose; cluster keeps running
    [true, false, [], 'forget'], // detached sandbox whose processes died (machine rebooted)
    [true, true, [11], 'keep'],
  ] as const)('detached=%s ownerAlive=%s running=%j -> %s', (detached, ownerAlive, running, verdict) => {
    const r = new Set<number>(running);
    expect(
      staleVerdict(
        state(detached),
        () => ownerAlive,
        (p) => r.has(p.pid),
      ),
    ).toBe(verdict);
  });
});
