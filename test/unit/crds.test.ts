// Static checks of the CRDs we ship: shape, the field facts of CAPI-FACTS §3, and the rules a
// Kubernetes 1.20 apiserver enforces on CRDs (structural schemas, no CEL).
import { existsSync, readFileSync } from 'node:fs';
import { loadAll } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { crdFiles, loadCrds, type CrdSet } from '../../src/sandbox/crds.ts';

interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  required?: string[];
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  default?: unknown;
  not?: Schema;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  [k: string]: unknown;
}

interface Crd {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string; singular: string; listKind: string; shortNames?: string[] };
    versions: Array<{
      name: string;
      served: boolean;
      storage: boolean;
      subresources?: {
        status?: object;
        scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath: string };
      };
      additionalPrinterColumns?: Array<{ name: string; type: string; jsonPath: string }>;
      schema: { openAPIV3Schema: Schema };
    }>;
  };
}

const SETS: CrdSet[] = ['v1beta2', 'v1beta1', 'infrastructure', 'remediation'];
const CAPI_SETS = ['v1beta2', 'v1beta1'] as const;
const INFRA_GROUP = 'infrastructure.sandbox.capi-autopilot.io';

const crdsOf = (set: CrdSet): Crd[] => loadCrds(set) as unknown as Crd[];
const all = SETS.flatMap((set) => crdsOf(set).map((crd) => ({ set, crd })));
const byKind = (set: CrdSet, kind: string): Crd => {
  const c = crdsOf(set).find((x) => x.spec.names.kind === kind);
  if (!c) throw new Error(`${set}: no CRD for ${kind}`);
  return c;
};
const schemaOf = (c: Crd): Schema => {
  const v = c.spec.versions[0];
  if (!v) throw new Error(`${c.metadata.name}: no versions`);
  return v.schema.openAPIV3Schema;
};

/** The schema at a dotted path; `[]` steps into array items, a map key into additionalProperties. */
function schemaAt(root: Schema, path: string): Schema | undefined {
  let s: Schema | undefined = root;
  for (const raw of path.split('.').filter(Boolean)) {
    const isItems = raw.endsWith('[]');
    const key = isItems ? raw.slice(0, -2) : raw;
    if (!s) return undefined;
    const next: Schema | undefined =
      s.properties?.[key] ??
      (typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined);
    s = isItems ? next?.items : next;
  }
  return s;
}

/** Every schema node with its path, for rules that hold everywhere. */
function walk(s: Schema, path = ''): Array<{ path: string; s: Schema }> {
  const out = [{ path, s }];
  for (const [k, c] of Object.entries(s.properties ?? {})) out.push(...walk(c, `${path}.${k}`));
  if (s.items) out.push(...walk(s.items, `${path}[]`));
  if (typeof s.additionalProperties === 'object') out.push(...walk(s.additionalProperties, `${path}{}`));
  return out;
}

describe('CRD files', () => {
  it.each(SETS)('%s: every listed file exists and holds exactly one CRD document', (set) => {
    const files = crdFiles(set);
    expect(files).toHaveLength(set === 'infrastructure' || set === 'remediation' ? 2 : 5);
    for (const f of files) {
      expect(existsSync(f), f).toBe(true);
      const docs = loadAll(readFileSync(f, 'utf8')).filter((d) => d != null);
      expect(docs, f).toHaveLength(1);
    }
  });

  it.each(all.map(({ set, crd }) => [set, crd.metadata.name, crd] as const))(
    '%s %s: apiextensions.k8s.io/v1 CRD named <plural>.<group>, namespaced',
    (_set, _name, crd) => {
      expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
      expect(crd.kind).toBe('CustomResourceDefinition');
      expect(crd.metadata.name).toBe(`${crd.spec.names.plural}.${crd.spec.group}`);
      expect(crd.spec.scope).toBe('Namespaced');
      expect(crd.spec.names.listKind).toBe(`${crd.spec.names.kind}List`);
      expect(crd.spec.names.singular).toBe(crd.spec.names.kind.toLowerCase());
    },
  );
});

describe('versions and labels', () => {
  it.each(CAPI_SETS)('%s: all five kinds, group cluster.x-k8s.io, serving and storing only %s', (set) => {
    const crds = crdsOf(set);
    expect(crds.map((c) => c.spec.names.kind).sort()).toEqual(
      ['Cluster', 'Machine', 'MachineDeployment', 'MachineHealthCheck', 'MachineSet'].sort(),
    );
    for (const c of crds) {
      expect(c.spec.group).toBe('cluster.x-k8s.io');
      expect(c.spec.versions.map((v) => [v.name, v.served, v.storage])).toEqual([[set, true, true]]);
      expect(c.metadata.labels).toEqual({ 'cluster.x-k8s.io/provider': 'cluster-api' });
    }
  });

  it('infrastructure: v1alpha1 only, with the CAPI contract labels of both contracts', () => {
    const crds = crdsOf('infrastructure');
    expect(crds.map((c) => c.spec.names.kind).sort()).toEqual(['SandboxMachine', 'SandboxMachineTemplate']);
    for (const c of crds) {
      expect(c.spec.group).toBe(INFRA_GROUP);
      expect(c.spec.versions.map((v) => [v.name, v.served, v.storage])).toEqual([['v1alpha1', true, true]]);
      expect(c.metadata.labels).toEqual({
        'cluster.x-k8s.io/v1beta2': 'v1alpha1',
        'cluster.x-k8s.io/v1beta1': 'v1alpha1',
      });
    }
  });

  it.each([
    ['Cluster', ['cl']],
    ['MachineDeployment', ['md']],
    ['MachineSet', ['ms']],
    ['Machine', ['ma']],
    ['MachineHealthCheck', ['mhc', 'mhcs']],
  ])('%s has short names %j in both versions', (kind, shortNames) => {
    for (const set of CAPI_SETS) expect(byKind(set, kind).spec.names.shortNames).toEqual(shortNames);
  });
});

describe('subresources', () => {
  it.each(all.map(({ set, crd }) => [set, crd.spec.names.kind, crd] as const))(
    '%s %s: status subresource; scale exactly on MachineDeployment and MachineSet',
    (_set, kind, crd) => {
      const sub = crd.spec.versions[0]?.subresources;
      expect(sub?.status).toEqual({});
      if (kind === 'MachineDeployment' || kind === 'MachineSet') {
        expect(sub?.scale).toEqual({
          specReplicasPath: '.spec.replicas',
          statusReplicasPath: '.status.replicas',
          labelSelectorPath: '.status.selector',
        });
      } else {
        expect(sub?.scale).toBeUndefined();
      }
    },
  );
});

describe('schemas', () => {
  const columns = all.flatMap(({ set, crd }) =>
    (crd.spec.versions[0]?.additionalPrinterColumns ?? []).map(
      (c) => [set, crd.spec.names.kind, c.jsonPath, crd] as const,
    ),
  );

  it('every CRD has printer columns, Age among them', () => {
    for (const { crd } of all) {
      expect(crd.spec.versions[0]?.additionalPrinterColumns?.map((c) => c.name)).toContain('Age');
    }
  });

  it.each(columns)('%s %s: printer column %s points into the schema', (_set, _kind, jsonPath, crd) => {
    if (jsonPath.startsWith('.metadata.')) return; // ObjectMeta is the apiserver's, not in our schema
    // `[?(@.type=="Ready")]` selects array items; the segment after it is a field of the item.
    const path = jsonPath.replace(/\[[^\]]*\]/g, '[]');
    const s = schemaAt(schemaOf(crd), path);
    expect(s, jsonPath).toBeDefined();
    expect(s?.type ?? (s?.['x-kubernetes-int-or-string'] ? 'int-or-string' : undefined)).toBeDefined();
  });

  it.each(all.map(({ set, crd }) => [set, crd.spec.names.kind, crd] as const))(
    '%s %s: every required entry names a defined property',
    (_set, _kind, crd) => {
      for (const { path, s } of walk(schemaOf(crd))) {
        for (const r of s.required ?? []) expect(s.properties, `${path}.required: ${r}`).toHaveProperty(r);
      }
    },
  );

  it.each(all.map(({ set, crd }) => [set, crd.spec.names.kind, crd] as const))(
    '%s %s: structural for Kubernetes 1.20 (types everywhere, no CEL, map keys required)',
    (_set, _kind, crd) => {
      for (const { path, s } of walk(schemaOf(crd))) {
        const where = path || '.';
        expect(s['x-kubernetes-validations'], where).toBeUndefined();
        if (!s['x-kubernetes-int-or-string']) expect(s.type, where).toBeDefined();
        if (s.properties) expect(s.type, where).toBe('object');
        if (s.type === 'array') expect(s.items, where).toBeDefined();
        // 1.20 demands list-map keys that every item has.
        if (s['x-kubernetes-list-type'] === 'map') {
          expect(s.items?.required, where).toEqual(
            expect.arrayContaining(s['x-kubernetes-list-map-keys'] ?? ['?']),
          );
        }
        // Inside not/anyOf only value validations are structural; types and defaults are not.
        for (const junction of ['not', 'anyOf', 'allOf', 'oneOf'] as const) {
          const branches = ([] as Schema[]).concat((s[junction] as Schema | Schema[] | undefined) ?? []);
          for (const b of branches) {
            expect(b.default, `${where}.${junction}`).toBeUndefined();
            if (!s['x-kubernetes-int-or-string']) expect(b.type, `${where}.${junction}`).toBeUndefined();
          }
        }
      }
    },
  );

  it.each(CAPI_SETS)('%s: no schema defaults anywhere, as upstream (CAPI defaults by webhook)', (set) => {
    for (const crd of crdsOf(set)) {
      const defaulted = walk(schemaOf(crd)).filter(({ s }) => s.default !== undefined);
      expect(defaulted.map((d) => `${crd.spec.names.kind}${d.path}`)).toEqual([]);
    }
  });
});

// CAPI-FACTS §3 (and src/capi/types.ts): the fields the service reads, per version.
type Fact = Partial<Pick<Schema, 'type' | 'enum' | 'required' | 'pattern' | 'minimum'>> & {
  intOrString?: true;
  absent?: true;
};
const TEMPLATE = 'spec.template.spec';
const ORDER = { enum: ['Random', 'Newest', 'Oldest'] };
const CONTRACT_REF = { required: ['apiGroup', 'kind', 'name'] };
const facts: Array<[CrdSet, string, string, Fact]> = [
  ['v1beta2', 'MachineDeployment', 'spec.replicas', { type: 'integer' }],
  ['v1beta2', 'MachineDeployment', 'spec', { required: ['clusterName', 'selector', 'template'] }],
  ['v1beta2', 'MachineDeployment', 'spec.deletion.order', ORDER],
  ['v1beta2', 'MachineDeployment', 'spec.rollout.strategy.type', { enum: ['RollingUpdate', 'OnDelete'] }],
  ['v1beta2', 'MachineDeployment', 'spec.rollout.strategy.rollingUpdate.maxSurge', { intOrString: true }],
  ['v1beta2', 'MachineDeployment', 'spec.remediation.maxInFlight', { intOrString: true }],
  ['v1beta2', 'MachineDeployment', 'spec.paused', { type: 'boolean' }],
  ['v1beta2', 'MachineDeployment', `${TEMPLATE}.infrastructureRef`, CONTRACT_REF],
  ['v1beta2', 'MachineDeployment', `${TEMPLATE}.infrastructureRef.apiVersion`, { absent: true }],
  ['v1beta2', 'MachineDeployment', `${TEMPLATE}.bootstrap.configRef`, CONTRACT_REF],
  ['v1beta2', 'MachineDeployment', `${TEMPLATE}.minReadySeconds`, { type: 'integer', minimum: 0 }],
  ['v1beta2', 'MachineDeployment', `${TEMPLATE}.deletion.nodeDrainTimeoutSeconds`, { minimum: 0 }],
  ['v1beta2', 'MachineDeployment', 'spec.template.metadata.labels', { type: 'object' }],
  ['v1beta2', 'MachineDeployment', 'status.upToDateReplicas', { type: 'integer' }],
  ['v1beta2', 'MachineDeployment', 'status.deprecated.v1beta1.updatedReplicas', { type: 'integer' }],
  ['v1beta2', 'MachineSet', 'spec.deletion.order', ORDER],
  ['v1beta2', 'MachineSet', 'spec.deletePolicy', { absent: true }],
  ['v1beta2', 'MachineSet', `${TEMPLATE}.deletion.nodeDeletionTimeoutSeconds`, { minimum: 0 }],
  ['v1beta2', 'Machine', 'spec', { required: ['bootstrap', 'clusterName', 'infrastructureRef'] }],
  ['v1beta2', 'Machine', 'spec.providerID', { type: 'string' }],
  ['v1beta2', 'Machine', 'status.nodeRef', { required: ['name'] }],
  ['v1beta2', 'Machine', 'status.nodeRef.kind', { absent: true }],
  ['v1beta2', 'Machine', 'status.initialization.infrastructureProvisioned', { type: 'boolean' }],
  ['v1beta2', 'Machine', 'status.initialization.bootstrapDataSecretCreated', { type: 'boolean' }],
  [
    'v1beta2',
    'Machine',
    'status.conditions[]',
    { required: ['lastTransitionTime', 'message', 'reason', 'status', 'type'] },
  ],
  ['v1beta2', 'Machine', 'status.deprecated.v1beta1.conditions[].severity', { type: 'string' }],
  ['v1beta2', 'Machine', 'status.deprecated.v1beta1.failureReason', { type: 'string' }],
  ['v1beta2', 'Machine', 'status.deletion.nodeDrainStartTime', { type: 'string' }],
  [
    'v1beta2',
    'Machine',
    'status.phase',
    {
      enum: [
        'Pending',
        'Provisioning',
        'Provisioned',
        'Running',
        'Updating',
        'Deleting',
        'Deleted',
        'Failed',
        'Unknown',
      ],
    },
  ],
  ['v1beta2', 'MachineHealthCheck', 'spec', { required: ['clusterName', 'selector'] }],
  ['v1beta2', 'MachineHealthCheck', 'spec.checks.nodeStartupTimeoutSeconds', { type: 'integer', minimum: 0 }],
  [
    'v1beta2',
    'MachineHealthCheck',
    'spec.checks.unhealthyNodeConditions[]',
    { required: ['status', 'timeoutSeconds', 'type'] },
  ],
  [
    'v1beta2',
    'MachineHealthCheck',
    'spec.checks.unhealthyMachineConditions[].status',
    { enum: ['True', 'False', 'Unknown'] },
  ],
  [
    'v1beta2',
    'MachineHealthCheck',
    'spec.remediation.triggerIf.unhealthyLessThanOrEqualTo',
    { intOrString: true },
  ],
  [
    'v1beta2',
    'MachineHealthCheck',
    'spec.remediation.triggerIf.unhealthyInRange',
    { pattern: '^\\[[0-9]+-[0-9]+\\]$' },
  ],
  [
    'v1beta2',
    'MachineHealthCheck',
    'spec.remediation.templateRef',
    { required: ['apiVersion', 'kind', 'name'] },
  ],
  ['v1beta2', 'MachineHealthCheck', 'status.remediationsAllowed', { type: 'integer', minimum: 0 }],
  ['v1beta2', 'Cluster', 'spec.infrastructureRef', CONTRACT_REF],
  ['v1beta2', 'Cluster', 'status.initialization.controlPlaneInitialized', { type: 'boolean' }],
  ['v1beta1', 'MachineDeployment', 'spec.replicas', { type: 'integer' }],
  ['v1beta1', 'MachineDeployment', 'spec.strategy.rollingUpdate.deletePolicy', ORDER],
  ['v1beta1', 'MachineDeployment', 'spec.strategy.remediation.maxInFlight', { intOrString: true }],
  ['v1beta1', 'MachineDeployment', 'spec.minReadySeconds', { type: 'integer' }],
  ['v1beta1', 'MachineDeployment', 'spec.rolloutAfter', { type: 'string' }],
  ['v1beta1', 'MachineDeployment', `${TEMPLATE}.infrastructureRef.apiVersion`, { type: 'string' }],
  ['v1beta1', 'MachineDeployment', `${TEMPLATE}.nodeDrainTimeout`, { type: 'string' }],
  ['v1beta1', 'MachineDeployment', 'status.v1beta2.upToDateReplicas', { type: 'integer' }],
  ['v1beta1', 'MachineSet', 'spec.deletePolicy', ORDER],
  ['v1beta1', 'MachineSet', 'spec', { required: ['clusterName', 'selector'] }],
  ['v1beta1', 'Machine', 'status.nodeRef.kind', { type: 'string' }],
  ['v1beta1', 'Machine', 'status.bootstrapReady', { type: 'boolean' }],
  ['v1beta1', 'Machine', 'status.infrastructureReady', { type: 'boolean' }],
  ['v1beta1', 'Machine', 'status.failureMessage', { type: 'string' }],
  ['v1beta1', 'Machine', 'status.conditions[]', { required: ['type', 'status', 'lastTransitionTime'] }],
  ['v1beta1', 'Machine', 'status.v1beta2.conditions[].reason', { type: 'string' }],
  [
    'v1beta1',
    'MachineHealthCheck',
    'spec.unhealthyConditions[]',
    { required: ['type', 'status', 'timeout'] },
  ],
  ['v1beta1', 'MachineHealthCheck', 'spec.maxUnhealthy', { intOrString: true }],
  ['v1beta1', 'MachineHealthCheck', 'spec.unhealthyRange', { pattern: '^\\[[0-9]+-[0-9]+\\]$' }],
  ['v1beta1', 'MachineHealthCheck', 'spec.remediationTemplate.apiVersion', { type: 'string' }],
  ['v1beta1', 'Cluster', 'status.controlPlaneReady', { type: 'boolean' }],
  [
    'infrastructure',
    'SandboxMachineTemplate',
    'status.nodeInfo.architecture',
    { enum: ['amd64', 'arm64', 's390x', 'ppc64le'] },
  ],
  ['infrastructure', 'SandboxMachineTemplate', 'status.capacity.cpu', { intOrString: true }],
  ['infrastructure', 'SandboxMachineTemplate', `${TEMPLATE}.instanceType.maxPods`, { type: 'integer' }],
  [
    'infrastructure',
    'SandboxMachine',
    'spec.instanceType.taints[].effect',
    { enum: ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] },
  ],
  ['infrastructure', 'SandboxMachine', 'status.initialization.provisioned', { type: 'boolean' }],
];

describe('field facts', () => {
  it.each(facts)('%s %s %s', (set, kind, path, fact) => {
    const s = schemaAt(schemaOf(byKind(set, kind)), path);
    if (fact.absent) return void expect(s).toBeUndefined();
    expect(s).toBeDefined();
    if (fact.type) expect(s?.type).toBe(fact.type);
    if (fact.enum) expect(s?.enum).toEqual(fact.enum);
    if (fact.required) expect([...(s?.required ?? [])].sort()).toEqual([...fact.required].sort());
    if (fact.pattern) expect(s?.pattern).toBe(fact.pattern);
    if (fact.minimum !== undefined) expect(s?.minimum).toBe(fact.minimum);
    if (fact.intOrString) expect(s?.['x-kubernetes-int-or-string']).toBe(true);
  });

  it('v1beta2 reserved machine condition types (a CEL rule upstream) are refused through not/enum', () => {
    const s = schemaAt(
      schemaOf(byKind('v1beta2', 'MachineHealthCheck')),
      'spec.checks.unhealthyMachineConditions[].type',
    );
    expect(s?.not?.enum).toEqual([
      'Ready',
      'Available',
      'HealthCheckSucceeded',
      'OwnerRemediated',
      'ExternallyRemediated',
    ]);
  });

  it.each(['SandboxMachine', 'SandboxMachineTemplate'])(
    '%s: instance type defaults maxPods to 110',
    (kind) => {
      const prefix = kind === 'SandboxMachine' ? 'spec' : TEMPLATE;
      const s = schemaAt(schemaOf(byKind('infrastructure', kind)), `${prefix}.instanceType.maxPods`);
      expect(s?.default).toBe(110);
    },
  );

  it('SandboxMachineTemplate capacity is a ResourceList: any resource name, quantity values', () => {
    const capacity = schemaAt(
      schemaOf(byKind('infrastructure', 'SandboxMachineTemplate')),
      'status.capacity',
    );
    const value = capacity?.additionalProperties;
    expect(typeof value).toBe('object');
    const pattern = new RegExp((value as Schema).pattern ?? '$^');
    for (const ok of ['4', '3500m', '16Gi', '1e3', '0.5']) expect(ok, ok).toMatch(pattern);
    for (const bad of ['500mb', '16 Gi', 'lots']) expect(bad, bad).not.toMatch(pattern);
  });
});
