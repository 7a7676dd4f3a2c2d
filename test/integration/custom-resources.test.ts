// Custom resources are the ground everything Cluster API stands on. A kube-apiserver built with the
// vendored reflect2 1.0.1 under Go >= 1.18 dies with SIGSEGV on the first custom resource it decodes;
// this test is the one that catches such a build.
import { describe, expect, inject, it } from 'vitest';
import { clusterApi, eventually, testNamespace, uniqueName } from './support/kube.ts';
import { isPidAlive } from '../../src/sandbox/processes.ts';
import { request } from 'node:https';

const api = clusterApi();

function crd(group: string, plural: string, kind: string) {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List` },
      versions: [
        {
          name: 'v1alpha1',
          served: true,
          storage: true,
          subresources: {
            status: {},
            scale: {
              specReplicasPath: '.spec.replicas',
              statusReplicasPath: '.status.replicas',
              labelSelectorPath: '.status.selector',
            },
          },
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: {
                  type: 'object',
                  properties: { replicas: { type: 'integer', minimum: 0 }, flavor: { type: 'string' } },
                },
                status: {
                  type: 'object',
                  properties: { replicas: { type: 'integer' }, selector: { type: 'string' } },
                },
              },
            },
          },
        },
      ],
    },
  };
}

interface Widget {
  metadata: { name: string; resourceVersion: string };
  spec: { replicas?: number; flavor?: string };
  status?: { replicas?: number; selector?: string };
}

/** Opens a watch and collects its events until `until` matches one or the timeout passes. */
function watchUntil(
  url: string,
  ca: string,
  token: string,
  until: (e: { type: string; object: Widget }) => boolean,
) {
  return new Promise<Array<{ type: string; object: Widget }>>((resolve, reject) => {
    const events: Array<{ type: string; object: Widget }> = [];
    let buf = '';
    const req = request(url, { ca, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const e = JSON.parse(buf.slice(0, nl)) as { type: string; object: Widget };
          buf = buf.slice(nl + 1);
          events.push(e);
          if (until(e)) {
            req.destroy();
            resolve(events);
          }
        }
      });
    });
    req.on('error', (e) => (events.length && e.message.includes('aborted') ? resolve(events) : reject(e)));
    setTimeout(() => {
      req.destroy();
      reject(new Error(`watch saw ${events.length} events, not the one awaited`));
    }, 30_000).unref();
    req.end();
  });
}

describe('custom resources', () => {
  it('a CRD with status and scale subresources serves create, get, list, watch, patch and /scale', async () => {
    const group = `${uniqueName('w')}.test.capi-autopilot.io`;
    const def = crd(group, 'widgets', 'Widget');
    await api.ok('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', def);
    const crdPath = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${def.metadata.name}`;
    await eventually('the CRD to be Established', async () => {
      const c = await api.ok<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(
        'GET',
        crdPath,
      );
      return c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True');
    });
    await eventually(
      'the API to be served',
      async () => (await api.req('GET', `/apis/${group}/v1alpha1`)).status === 200,
    );

    const ns = await testNamespace(api, 'crd');
    const base = `/apis/${group}/v1alpha1/namespaces/${ns}/widgets`;
    const created = await api.ok<Widget>('POST', base, {
      apiVersion: `${group}/v1alpha1`,
      kind: 'Widget',
      metadata: { name: 'w1' },
      spec: { replicas: 1, flavor: 'plain' },
      status: { replicas: 99 },
    });
    // The status subresource makes the main resource ignore status on create.
    expect(created.status?.replicas).toBeUndefined();
    expect((await api.ok<Widget>('GET', `${base}/w1`)).spec).toEqual({ replicas: 1, flavor: 'plain' });

    const list = await api.ok<{ items: Widget[]; metadata: { resourceVersion: string } }>('GET', base);
    expect(list.items.map((w) => w.metadata.name)).toEqual(['w1']);

    const c = inject('cluster');
    const watched = watchUntil(
      `${c.server}${base}?watch=1&resourceVersion=${list.metadata.resourceVersion}`,
      c.caPem,
      c.token,
      (e) => e.type === 'MODIFIED' && e.object.spec.flavor === 'spicy',
    );
    await api.mergePatch(`${base}/w1`, { spec: { flavor: 'spicy' } });
    const events = await watched;
    expect(events.at(-1)?.object.metadata.name).toBe('w1');

    await api.mergePatch(`${base}/w1/status`, { status: { replicas: 1, selector: 'app=w1' } });
    const scale = await api.ok<{
      kind: string;
      spec: { replicas: number };
      status: { replicas: number; selector: string };
    }>('GET', `${base}/w1/scale`);
    expect(scale).toMatchObject({
      kind: 'Scale',
      spec: { replicas: 1 },
      status: { replicas: 1, selector: 'app=w1' },
    });
    await api.mergePatch(`${base}/w1/scale`, { spec: { replicas: 5 } });
    expect((await api.ok<Widget>('GET', `${base}/w1`)).spec.replicas).toBe(5);
    // Schema validation is enforced on the scale path too.
    expect(
      (await api.req('PATCH', `${base}/w1/scale`, { spec: { replicas: -1 } }, 'application/merge-patch+json'))
        .status,
    ).toBe(422);

    // Empty strings survive a round trip (json-iterator 1.1.10 with reflect2 1.0.2 turned them into null
    // and the apiserver answered 422 "must be of type string"; CAPI writes message: "" on every condition).
    await api.mergePatch(`${base}/w1`, { spec: { flavor: '' } });
    expect((await api.ok<Widget>('GET', `${base}/w1`)).spec.flavor).toBe('');
    const empty = await api.req<Widget>('POST', base, {
      apiVersion: `${group}/v1alpha1`,
      kind: 'Widget',
      metadata: { name: 'w2' },
      spec: { replicas: 0, flavor: '' },
    });
    expect(empty.status).toBe(201);
    expect(empty.body.spec.flavor).toBe('');

    // The apiserver survived decoding all of that.
    const apiserverPid = c.processes.find((p) => p.name.startsWith('kube-apiserver'))?.pid;
    expect(apiserverPid && isPidAlive(apiserverPid)).toBe(true);
    expect((await api.req('GET', '/readyz')).status).toBe(200);
    await api.ok('DELETE', crdPath);
  });
});
