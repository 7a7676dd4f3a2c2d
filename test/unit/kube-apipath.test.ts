import { describe, expect, it } from 'vitest';
import { kindPath, parseApiPath, resourceLabel, type ApiPath } from '../../src/kube/apipath.ts';

const CAPI = 'cluster.x-k8s.io';

describe('parseApiPath', () => {
  it.each<[string, ApiPath]>([
    ['/api/v1/nodes', { group: '', version: 'v1', resource: 'nodes' }],
    ['/api/v1/nodes/n1', { group: '', version: 'v1', resource: 'nodes', name: 'n1' }],
    ['/api/v1/pods', { group: '', version: 'v1', resource: 'pods' }],
    ['/api/v1/namespaces/ns/pods', { group: '', version: 'v1', namespace: 'ns', resource: 'pods' }],
    [
      '/api/v1/namespaces/ns/pods/p1',
      { group: '', version: 'v1', namespace: 'ns', resource: 'pods', name: 'p1' },
    ],
    [
      '/api/v1/namespaces/ns/pods/p1/eviction',
      { group: '', version: 'v1', namespace: 'ns', resource: 'pods', name: 'p1', subresource: 'eviction' },
    ],
    ['/api/v1/namespaces', { group: '', version: 'v1', resource: 'namespaces' }],
    ['/api/v1/namespaces/foo', { group: '', version: 'v1', resource: 'namespaces', name: 'foo' }],
    [
      `/apis/${CAPI}/v1beta1/machinedeployments`,
      { group: CAPI, version: 'v1beta1', resource: 'machinedeployments' },
    ],
    [
      `/apis/${CAPI}/v1beta1/namespaces/ns/machinedeployments`,
      { group: CAPI, version: 'v1beta1', namespace: 'ns', resource: 'machinedeployments' },
    ],
    [
      `/apis/${CAPI}/v1beta1/namespaces/ns/machinedeployments/md1/scale`,
      {
        group: CAPI,
        version: 'v1beta1',
        namespace: 'ns',
        resource: 'machinedeployments',
        name: 'md1',
        subresource: 'scale',
      },
    ],
    [
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x.example.com/status',
      {
        group: 'apiextensions.k8s.io',
        version: 'v1',
        resource: 'customresourcedefinitions',
        name: 'x.example.com',
        subresource: 'status',
      },
    ],
    [
      '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/lock?timeout=10s',
      {
        group: 'coordination.k8s.io',
        version: 'v1',
        namespace: 'kube-system',
        resource: 'leases',
        name: 'lock',
      },
    ],
    [
      '/api/v1/namespaces/ns/pods?labelSelector=a%3Db&watch=true',
      { group: '', version: 'v1', namespace: 'ns', resource: 'pods' },
    ],
    [
      '/api/v1/namespaces/my%20ns/configmaps/a%2Fb',
      { group: '', version: 'v1', namespace: 'my ns', resource: 'configmaps', name: 'a/b' },
    ],
    ['/api/v1/pods/bad%ZZ', { group: '', version: 'v1', resource: 'pods', name: 'bad%ZZ' }],
    ['/api', { group: '', version: '', resource: '' }],
    ['/api/v1', { group: '', version: 'v1', resource: '' }],
    ['/apis', { group: '', version: '', resource: '' }],
    [`/apis/${CAPI}`, { group: CAPI, version: '', resource: '' }],
    [`/apis/${CAPI}/v1beta1`, { group: CAPI, version: 'v1beta1', resource: '' }],
    ['/version', { group: '', version: '', resource: '' }],
    ['/healthz', { group: '', version: '', resource: '' }],
  ])('%s', (path, expected) => {
    expect(parseApiPath(path)).toEqual(expected);
  });
});

describe('resourceLabel', () => {
  it.each([
    ['/api/v1/pods', 'pods'],
    ['/api/v1/namespaces/ns/pods/p1', 'pods'],
    ['/api/v1/namespaces/ns/pods/p1/eviction', 'pods/eviction'],
    ['/api/v1/namespaces/foo', 'namespaces'],
    ['/api/v1/namespaces', 'namespaces'],
    [`/apis/${CAPI}/v1beta1/namespaces/ns/machinedeployments`, 'machinedeployments'],
    [`/apis/${CAPI}/v1beta1/namespaces/ns/machinedeployments/md1/scale`, 'machinedeployments/scale'],
    [`/apis/${CAPI}/v1beta1/namespaces/ns/machines?watch=1&resourceVersion=5`, 'machines'],
    ['/api', 'discovery'],
    ['/api/', 'discovery'],
    ['/api?timeout=32s', 'discovery'],
    ['/api/v1', 'discovery'],
    ['/apis', 'discovery'],
    [`/apis/${CAPI}`, 'discovery'],
    [`/apis/${CAPI}/v1beta1`, 'discovery'],
    ['/version', 'other'],
    ['/healthz', 'other'],
    ['/openapi/v2', 'other'],
    ['/apisx/v1/pods', 'other'],
    ['/', 'other'],
  ])('%s → %s', (path, label) => {
    expect(resourceLabel(path)).toBe(label);
  });
});

describe('paths that look like a namespace scope but are not', () => {
  it.each([
    [
      '/api/v1/namespaces/foo/status',
      'namespaces/status',
      { resource: 'namespaces', name: 'foo', subresource: 'status' },
    ],
    [
      '/api/v1/namespaces/foo/finalize',
      'namespaces/finalize',
      { resource: 'namespaces', name: 'foo', subresource: 'finalize' },
    ],
    ['/api/v1/watch/namespaces/ns1/pods', 'pods', { resource: 'pods', namespace: 'ns1' }],
    ['/api/v1/watch/nodes', 'nodes', { resource: 'nodes' }],
  ])('%s', (path, label, parsed) => {
    expect(resourceLabel(path)).toBe(label);
    expect(parseApiPath(path)).toMatchObject(parsed);
    if (!('namespace' in parsed)) expect(parseApiPath(path).namespace).toBeUndefined();
  });
});

describe('kindPath', () => {
  it('lower-cases the kind and adds "s" (the CAPI providers\' plural), in the given namespace', () => {
    const g = 'infrastructure.sandbox.capi-autopilot.io/v1alpha1';
    expect(kindPath(g, 'ns', 'SandboxMachine', 'm-1')).toBe(`/apis/${g}/namespaces/ns/sandboxmachines/m-1`);
    expect(kindPath(g, 'ns', 'SandboxMachineTemplate')).toBe(
      `/apis/${g}/namespaces/ns/sandboxmachinetemplates`,
    );
    expect(parseApiPath(kindPath(g, 'ns', 'SandboxMachine', 'm-1'))).toMatchObject({
      namespace: 'ns',
      resource: 'sandboxmachines',
      name: 'm-1',
    });
  });
});
