// Eviction decisions without a server: what is retried, what ends the attempt, the grace period sent.
import { describe, expect, it } from 'vitest';
import { evictPod, gracePeriod, type EvictOptions } from '../../src/drain/eviction.ts';
import { KubeClient } from '../../src/kube/client.ts';
import type { Transport, WireRequest, WireResponse } from '../../src/kube/transport.ts';

const status = (code: number, message: string, causes: string[] = []): WireResponse => ({
  status: code,
  headers: {},
  text: JSON.stringify({ kind: 'Status', message, details: { causes: causes.map((m) => ({ message: m })) } }),
});
const created: WireResponse = { status: 201, headers: {}, text: '{}' };

function setup(answers: WireResponse[]) {
  const sent: WireRequest[] = [];
  const t: Transport = {
    server: 'https://fake',
    async request(r) {
      sent.push(r);
      const a = answers.shift();
      if (!a) throw new Error('script exhausted');
      return a;
    },
    stream: async () => undefined,
  };
  const client = new KubeClient(t, {
    qps: 1000,
    burst: 1000,
    timeoutMs: 1000,
    maxRetries: 3,
    sleep: async () => {},
  });
  let clock = 0;
  const o: EvictOptions = {
    policyVersion: 'v1beta1',
    evictionTimeoutMs: 10_000,
    deletionTimeoutMs: 5000,
    gracePeriodSeconds: -1,
    maxGracePeriodSeconds: 600,
    retryIntervalMs: 1000,
    waitGone: async () => true,
    now: () => clock,
    sleep: async (ms) => void (clock += ms),
  };
  return { client, sent, o };
}
const pod = {
  metadata: { namespace: 'ns', name: 'p', uid: 'u1' },
  spec: { terminationGracePeriodSeconds: 45 },
};

describe('evictPod without a server', () => {
  it('sends the Eviction with the UID precondition and the grace period to the served version', async () => {
    const { client, sent, o } = setup([created]);
    expect(await evictPod(client, pod, o)).toEqual({ result: 'evicted', attempts: 1 });
    expect(sent[0]!.method).toBe('POST');
    expect(sent[0]!.path).toBe('/api/v1/namespaces/ns/pods/p/eviction');
    expect(JSON.parse(sent[0]!.body!)).toEqual({
      apiVersion: 'policy/v1beta1',
      kind: 'Eviction',
      metadata: { name: 'p', namespace: 'ns' },
      deleteOptions: { gracePeriodSeconds: 45, preconditions: { uid: 'u1' } },
    });
  });

  it.each<[string, WireResponse[], Record<string, unknown>]>([
    [
      '429 until the timeout: blocked, PDB named',
      Array(20).fill(
        status(429, "Cannot evict pod as it would violate the pod's disruption budget.", [
          'The disruption budget web-pdb needs 2 healthy pods and has 2 currently',
        ]),
      ),
      { result: 'blocked_by_pdb', pdb: 'web-pdb', attempts: 10 },
    ],
    [
      '429 then allowed',
      [status(429, 'refused'), status(429, 'refused'), created],
      { result: 'evicted', attempts: 3 },
    ],
    [
      'several PDBs: one attempt',
      [
        status(
          500,
          'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.',
        ),
      ],
      { result: 'multiple_pdbs', attempts: 1 },
    ],
    ['other 500s are retried', [status(500, 'etcd timeout'), created], { result: 'evicted', attempts: 2 }],
    ['404: already gone', [status(404, 'not found')], { result: 'not_found', attempts: 1 }],
    [
      '409: UID precondition failed',
      [status(409, 'Precondition failed: UID in precondition: u1, UID in object meta: u2')],
      { result: 'not_found', attempts: 1 },
    ],
    ['403: not allowed, not retried', [status(403, 'forbidden')], { result: 'failed', attempts: 1 }],
  ])('%s', async (_, answers, expected) => {
    const { client, o } = setup(answers);
    expect(await evictPod(client, pod, o)).toMatchObject(expected);
  });

  it('a PDB refusal waits through waitForPdb (which may end early), other failures sleep', async () => {
    const refused = status(429, 'refused', [
      'The disruption budget db needs 1 healthy pods and has 1 currently',
    ]);
    const { client, o } = setup([refused, status(503, 'busy'), created]);
    const waits: Array<[string | undefined, number]> = [];
    const slept: number[] = [];
    const r = await evictPod(client, pod, {
      ...o,
      waitForPdb: async (pdb, ms) => void waits.push([pdb, ms]),
      sleep: async (ms) => void slept.push(ms),
    });
    expect(r).toEqual({ result: 'evicted', attempts: 3 });
    expect(waits).toEqual([['db', 1000]]);
    expect(slept).toEqual([1000]);
  });

  it('an accepted eviction whose pod stays is not_deleted', async () => {
    const { client, o } = setup([created]);
    expect(await evictPod(client, pod, { ...o, waitGone: async () => false })).toEqual({
      result: 'not_deleted',
      attempts: 1,
    });
  });
});

describe('gracePeriod', () => {
  it.each([
    [-1, 45, 600, 45],
    [-1, undefined, 600, 30],
    [-1, 3600, 600, 600],
    [0, 45, 600, 0],
    [10, 45, 600, 10],
  ])('override %i, pod %s, max %i → %i', (override, podGrace, max, expected) => {
    expect(
      gracePeriod(
        {
          metadata: { namespace: 'n', name: 'p', uid: 'u' },
          spec: { terminationGracePeriodSeconds: podGrace },
        },
        { gracePeriodSeconds: override, maxGracePeriodSeconds: max },
      ),
    ).toBe(expected);
  });
});
