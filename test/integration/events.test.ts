// Events as kubectl describe shows them: written on the real apiserver, repeats aggregated into one.
import { describe, expect, it } from 'vitest';
import { EventRecorder } from '../../src/kube/events.ts';
import { clusterApi, clusterClient, testNamespace } from './support/kube.ts';

const api = clusterApi();

interface Ev {
  type: string;
  reason: string;
  message: string;
  count: number;
  involvedObject: { kind: string; name: string; namespace?: string };
  source?: { component?: string };
}

describe('EventRecorder', () => {
  it('writes an Event on the object and counts repeats instead of creating new ones', async () => {
    const ns = await testNamespace(api, 'events');
    const cm = await api.ok<{ metadata: { uid: string } }>('POST', `/api/v1/namespaces/${ns}/configmaps`, {
      metadata: { name: 'target' },
    });
    const errors: Error[] = [];
    const r = new EventRecorder(clusterClient(), { onError: (e) => errors.push(e) });
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'target', uid: cm.metadata.uid };
    await r.record(ref, 'Warning', 'EvictionBlocked', 'refused by PodDisruptionBudget ns/db');
    await r.record(ref, 'Warning', 'EvictionBlocked', 'refused by PodDisruptionBudget ns/db');
    await r.record(ref, 'Normal', 'DrainSucceeded', 'done');
    const events = (
      await api.ok<{ items: Ev[] }>(
        'GET',
        `/api/v1/namespaces/${ns}/events?fieldSelector=${encodeURIComponent('involvedObject.name=target')}`,
      )
    ).items;
    expect(errors).toEqual([]);
    expect(events.map((e) => [e.type, e.reason, e.count]).sort()).toEqual([
      ['Normal', 'DrainSucceeded', 1],
      ['Warning', 'EvictionBlocked', 2],
    ]);
    expect(events[0]!.source?.component).toBe('capi-autopilot');
    expect(events[0]!.involvedObject).toMatchObject({ kind: 'ConfigMap', name: 'target', namespace: ns });
  });

  it('a write that fails is reported to onError, never thrown', async () => {
    const errors: Error[] = [];
    const r = new EventRecorder(clusterClient({ maxRetries: 0 }), { onError: (e) => errors.push(e) });
    await r.record(
      { apiVersion: 'v1', kind: 'Node', name: 'n', namespace: 'no-such-namespace-xyz' },
      'Normal',
      'X',
      'y',
    );
    expect(errors.map((e) => e.message).join()).toMatch(/404|not found/i);
  });
});
