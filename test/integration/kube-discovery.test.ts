import { describe, expect, inject, it } from 'vitest';
import { KubeClient } from '../../src/kube/client.ts';
import { discover, discoverGroup, evictionVersion } from '../../src/kube/discovery.ts';
import { HttpsTransport, kubeConfigFrom } from '../../src/kube/transport.ts';
import { clusterApi } from './support/kube.ts';

describe('discovery', () => {
  it('reports what this apiserver serves, and an unserved group as empty', async () => {
    const c = new KubeClient(
      new HttpsTransport(kubeConfigFrom({ kubeconfig: inject('cluster').kubeconfigPath })),
      {
        qps: 50,
        burst: 50,
        timeoutMs: 5000,
        maxRetries: 1,
      },
    );
    const d = await discover(c);
    // Cross-check against the raw discovery document rather than a hard-coded version.
    const raw = await clusterApi().ok<{ preferredVersion: { version: string } }>('GET', '/apis/policy');
    expect(d.policy.preferred).toBe(raw.preferredVersion.version);
    expect(d.policy.served).toContain(raw.preferredVersion.version);
    expect(evictionVersion(d.policy)).toBe(d.policy.served.includes('v1') ? 'v1' : 'v1beta1');
    expect(d.coordination.served).toContain('v1');
    expect(await discoverGroup(c, 'nothing.example.com')).toEqual({
      group: 'nothing.example.com',
      served: [],
    });
    expect(() => evictionVersion({ group: 'policy', served: [] })).toThrow(/no policy API version/);
    await c.close();
  });
});
