import { describe, expect, it } from 'vitest';
import type { Machine } from '../../src/capi/types.ts';
import { loadConfig } from '../../src/config/load.ts';
import {
  classifyPod,
  MACHINE_DELETION_POLICY,
  SCALE_DOWN_POLICY,
  type PodLike,
} from '../../src/drain/filters.ts';
import { drainFor, EXCLUDE_NODE_DRAINING_ANNOTATION } from '../../src/drain/options.ts';

const config = (...set: string[]) =>
  loadConfig({ argv: set.flatMap((s) => ['--set', s]), env: {}, readFile: () => '' }).drain;

function machine(annotations: Record<string, string> = {}, nodeDrainTimeoutSeconds?: number): Machine {
  return {
    kind: 'Machine',
    version: 'v1beta2',
    meta: {
      name: 'm1',
      namespace: 'fleet',
      uid: 'u',
      resourceVersion: '1',
      generation: 1,
      labels: {},
      annotations,
      ownerReferences: [],
      finalizers: [],
    },
    clusterName: 'c1',
    infrastructureRef: { apiGroup: 'x', kind: 'X', name: 'x' },
    bootstrap: {},
    deletion: { nodeDrainTimeoutSeconds },
    bootstrapReady: true,
    infrastructureProvisioned: true,
    conditions: [],
  };
}

describe('drainFor', () => {
  it('skips a Machine that carries exclude-node-draining, whatever its value', () => {
    for (const v of ['', 'true', 'yes']) {
      const d = drainFor('machine-deletion', config(), machine({ [EXCLUDE_NODE_DRAINING_ANNOTATION]: v }));
      expect(d).toEqual({ drain: false, reason: expect.stringContaining(EXCLUDE_NODE_DRAINING_ANNOTATION) });
    }
  });

  it.each<[string, number | undefined, string[], number]>([
    ['the configured default without a Machine value', undefined, [], 600_000],
    ["the Machine's nodeDrainTimeout", 90, [], 90_000],
    ["the Machine's 0: no limit", 0, [], 0],
    ['a configured default', undefined, ['drain.nodeDrainTimeout=3m'], 180_000],
  ])('timeout: %s', (_, fromMachine, set, expected) => {
    const d = drainFor('machine-deletion', config(...set), machine({}, fromMachine));
    expect(d.drain && d.options.timeoutMs).toBe(expected);
  });

  it('scale-down keeps cluster-autoscaler rules; machine deletion forces, within the configuration', () => {
    const down = drainFor('scale-down', config());
    const del = drainFor('machine-deletion', config('drain.deleteEmptyDirData=false'));
    expect(down.drain && down.options.policy).toEqual(SCALE_DOWN_POLICY);
    expect(down.drain && down.options.onFailure).toBe('uncordon');
    expect(del.drain && del.options.policy).toEqual({ ...MACHINE_DELETION_POLICY, localStorage: 'block' });
    expect(del.drain && del.options.onFailure).toBe('leave-cordoned');
    const forced = drainFor('scale-down', config('drain.onFailure=leave-cordoned'));
    expect(forced.drain && forced.options.onFailure).toBe('leave-cordoned');
  });

  it('passes grace period, its cap, the eviction timeout and the unreachable-node wait', () => {
    const d = drainFor(
      'scale-down',
      config(
        'drain.gracePeriodSeconds=5',
        'drain.maxGracefulTerminationSeconds=60',
        'drain.skipWaitForDeleteTimeoutSeconds=20',
      ),
    );
    expect(d.drain && d.options).toMatchObject({
      gracePeriodSeconds: 5,
      maxGracePeriodSeconds: 60,
      podEvictionTimeoutMs: 120_000,
      skipWaitForDeleteTimeoutSeconds: 20,
    });
  });
});

describe('pods on an unreachable node', () => {
  const NOW = Date.parse('2026-11-26T12:00:00Z');
  const pod = (deletionTimestamp?: string, deletionGracePeriodSeconds?: number): PodLike => ({
    metadata: {
      name: 'p',
      namespace: 'ns',
      uid: 'u',
      ownerReferences: [{ kind: 'ReplicaSet', name: 'rs', controller: true }],
      deletionTimestamp,
      deletionGracePeriodSeconds,
    },
    spec: { terminationGracePeriodSeconds: 30 },
    status: { phase: 'Running' },
  });
  const ctx = (unreachableSkipWaitSeconds?: number) => ({
    now: NOW,
    daemonSetExists: () => true,
    pdbsInNamespace: [],
    policy: SCALE_DOWN_POLICY,
    unreachableSkipWaitSeconds,
  });

  it.each<[string, string | undefined, number | undefined, number | undefined, string]>([
    ['deleting for 10 s, skip after 5 s: gone', '2026-11-26T12:00:20Z', 30, 5, 'skip'],
    ['deleting for 2 s, skip after 5 s: evicted again', '2026-11-26T12:00:28Z', 30, 5, 'evict'],
    ['reachable node: waits for the kubelet', '2026-11-26T12:00:20Z', 30, undefined, 'evict'],
    ['not deleting', undefined, undefined, 5, 'evict'],
  ])('%s', (_, ts, grace, skip, action) => {
    expect(classifyPod(pod(ts, grace), ctx(skip)).action).toBe(action);
  });
});
