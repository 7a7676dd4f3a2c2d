import { describe, expect, it } from 'vitest';
import {
  discoverNodeGroups,
  OPTION_ANNOTATION_PREFIX,
  type DiscoverNodeGroupsInput,
  type NodeGroup,
  type NodeGroupsResult,
} from '../../src/autoscaler/nodegroups.ts';
import { ANNOTATIONS, type CapiVersion } from '../../src/capi/types.ts';
import { ConfigSchema, DEFAULT_CONFIG, type Config } from '../../src/config/schema.ts';
import { controllerRef, metaJson, NS, T0 } from './fixtures/capi-common.ts';

// ---- raw objects in the shapes the adapters read (see fixtures/capi-sets.ts) ----

const MIN = ANNOTATIONS.nodeGroupMinSize;
const MAX = ANNOTATIONS.nodeGroupMaxSize;
const bounds = (min: string, max: string) => ({ [MIN]: min, [MAX]: max });

interface Opts {
  version?: CapiVersion;
  namespace?: string;
  cluster?: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  replicas?: number | null;
  deleting?: boolean;
  ownerReferences?: Record<string, unknown>[];
  failureDomain?: string;
}

function templateSpec(version: CapiVersion, cluster: string, failureDomain?: string) {
  const ref = (group: string, kind: string, name: string) =>
    version === 'v1beta2' ? { apiGroup: group, kind, name } : { apiVersion: `${group}/v1beta1`, kind, name };
  return {
    clusterName: cluster,
    bootstrap: { configRef: ref('bootstrap.cluster.x-k8s.io', 'KubeadmConfigTemplate', 'boot') },
    infrastructureRef: ref('infrastructure.cluster.x-k8s.io', 'DockerMachineTemplate', 'infra'),
    version: 'v1.33.1',
    ...(failureDomain ? { failureDomain } : {}),
  };
}

function scalable(kind: 'MachineDeployment' | 'MachineSet', name: string, o: Opts = {}) {
  const version = o.version ?? 'v1beta2';
  const cluster = o.cluster ?? 'prod';
  const metadata = metaJson(name, {
    annotations: o.annotations ?? bounds('1', '5'),
    ...(o.labels ? { labels: o.labels } : {}),
    ...(o.deleting ? { deletionTimestamp: T0, finalizers: ['x'] } : {}),
    ...(o.ownerReferences ? { ownerReferences: o.ownerReferences } : {}),
  });
  if (o.namespace) metadata['namespace'] = o.namespace;
  const replicas = o.replicas === null ? {} : { replicas: o.replicas ?? 2 };
  return {
    apiVersion: `cluster.x-k8s.io/${version}`,
    kind,
    metadata,
    spec: {
      clusterName: cluster,
      ...replicas,
      selector: { matchLabels: { pool: name } },
      template: {
        metadata: { labels: { pool: name, 'node.cluster.x-k8s.io/tier': 'gold' } },
        spec: templateSpec(version, cluster, o.failureDomain),
      },
    },
  };
}
const md = (name: string, o?: Opts) => scalable('MachineDeployment', name, o);
const ms = (name: string, o?: Opts) => scalable('MachineSet', name, o);

function cluster(
  name: string,
  o: {
    version?: CapiVersion;
    paused?: boolean;
    annotations?: Record<string, string>;
    namespace?: string;
  } = {},
) {
  const metadata = metaJson(name, o.annotations ? { annotations: o.annotations } : {});
  if (o.namespace) metadata['namespace'] = o.namespace;
  return {
    apiVersion: `cluster.x-k8s.io/${o.version ?? 'v1beta2'}`,
    kind: 'Cluster',
    metadata,
    spec: o.paused === undefined ? {} : { paused: o.paused },
  };
}

const DEFAULTS = DEFAULT_CONFIG.autoscaler;
const DEFAULT_OPTIONS = {
  scaleDownUtilizationThreshold: DEFAULTS.scaleDownUtilizationThreshold,
  scaleDownUnneededTime: DEFAULTS.scaleDownUnneededTime,
  scaleDownUnreadyTime: DEFAULTS.scaleDownUnreadyTime,
  maxNodeProvisionTime: DEFAULTS.maxNodeProvisionTime,
};

function run(i: Partial<DiscoverNodeGroupsInput>): NodeGroupsResult {
  return discoverNodeGroups({
    clusters: [cluster('prod'), cluster('dev')],
    machineDeployments: [],
    machineSets: [],
    discovery: [],
    defaults: DEFAULTS,
    ...i,
  });
}

const group = (r: NodeGroupsResult, key: string): NodeGroup => {
  const g = r.groups.find((x) => x.key === key);
  if (!g) throw new Error(`no group ${key}; ignored: ${JSON.stringify(r.ignored)}`);
  return g;
};
const ignoredOf = (r: NodeGroupsResult, key: string) => r.ignored.find((x) => x.key === key);
const k = (name: string, kind = 'MachineDeployment', ns = NS) => `${kind}/${ns}/${name}`;

// ---- tests ----

describe('a node group read from v1beta2 and v1beta1 objects', () => {
  it.each<CapiVersion>(['v1beta2', 'v1beta1'])('%s MachineDeployment', (version) => {
    const r = run({
      clusters: [cluster('prod', { version })],
      machineDeployments: [
        md('md-a', { version, replicas: 3, failureDomain: 'zone-1', labels: { env: 'p' } }),
      ],
    });
    expect(r.ignored).toEqual([]);
    const g = group(r, k('md-a'));
    expect(g).toMatchObject({
      key: 'MachineDeployment/team-a/md-a',
      kind: 'MachineDeployment',
      namespace: NS,
      name: 'md-a',
      clusterName: 'prod',
      version,
      minSize: 1,
      maxSize: 5,
      replicas: 3,
      options: {
        scaleDownUtilizationThreshold: 0.5,
        scaleDownUnneededTime: 600_000,
        scaleDownUnreadyTime: 1_200_000,
        maxNodeProvisionTime: 900_000,
      },
      selector: { matchLabels: { pool: 'md-a' } },
      annotations: bounds('1', '5'),
      template: {
        labels: { pool: 'md-a', 'node.cluster.x-k8s.io/tier': 'gold' },
        failureDomain: 'zone-1',
        infrastructureRef: {
          apiGroup: 'infrastructure.cluster.x-k8s.io',
          kind: 'DockerMachineTemplate',
          name: 'infra',
        },
      },
    });
    expect(g.disabled).toBeUndefined();
    expect(g.object.kind).toBe('MachineDeployment');
  });

  it.each<CapiVersion>(['v1beta2', 'v1beta1'])('%s standalone MachineSet', (version) => {
    const r = run({ machineSets: [ms('solo', { version })] });
    expect(group(r, k('solo', 'MachineSet'))).toMatchObject({ kind: 'MachineSet', minSize: 1, maxSize: 5 });
  });

  it('mixed versions in one call', () => {
    const r = run({
      clusters: [cluster('prod', { version: 'v1beta1' })],
      machineDeployments: [md('a', { version: 'v1beta1' }), md('b', { version: 'v1beta2' })],
    });
    expect(r.groups.map((g) => [g.key, g.version, g.disabled])).toEqual([
      [k('a'), 'v1beta1', undefined],
      [k('b'), 'v1beta2', undefined],
    ]);
  });
});

describe('opting in', () => {
  it.each<[string, Record<string, string>, string, RegExp]>([
    ['no annotations', {}, 'NotOptedIn', /no min-size\/max-size/],
    ['unrelated annotations only', { team: 'x' }, 'NotOptedIn', /no min-size/],
    ['min only', { [MIN]: '1' }, 'IncompleteBounds', /max-size annotation missing/],
    ['max only', { [MAX]: '3' }, 'IncompleteBounds', /min-size annotation missing/],
  ])('%s: ignored', (_n, annotations, code, reason) => {
    const r = run({ machineDeployments: [md('md-a', { annotations }), md('ok')] });
    expect(r.groups.map((g) => g.key)).toEqual([k('ok')]);
    expect(ignoredOf(r, k('md-a'))).toMatchObject({ code, reason: expect.stringMatching(reason) });
  });
});

describe('size bounds', () => {
  it.each<[string, string, number, number]>([
    ['0', '1', 0, 1],
    ['3', '3', 3, 3],
    ['007', '10', 7, 10],
    ['0', '2147483647', 0, 2147483647],
  ])('min %j max %j: valid', (min, max, wantMin, wantMax) => {
    const r = run({ machineDeployments: [md('md-a', { annotations: bounds(min, max), replicas: 3 })] });
    const g = group(r, k('md-a'));
    expect(g).toMatchObject({ minSize: wantMin, maxSize: wantMax });
    expect(g.disabled).toBeUndefined();
  });

  it.each<[string, string, string, RegExp]>([
    ['3.0', '5', 'InvalidBounds', /min-size "3\.0" is not an integer/],
    [' 2', '5', 'InvalidBounds', /min-size " 2" is not an integer/],
    ['2 ', '5', 'InvalidBounds', /min-size "2 " is not an integer/],
    ['+2', '5', 'InvalidBounds', /min-size "\+2" is not an integer/],
    ['', '5', 'InvalidBounds', /min-size "" is not an integer/],
    ['one', '5', 'InvalidBounds', /min-size "one" is not an integer/],
    ['-1', '5', 'InvalidBounds', /min-size "-1" is negative/],
    ['1', '-5', 'InvalidBounds', /max-size "-5" is negative/],
    ['1', '1e3', 'InvalidBounds', /max-size "1e3" is not an integer/],
    ['1', '2147483648', 'InvalidBounds', /max-size "2147483648" is above 2147483647/],
    ['4', '3', 'InvalidBounds', /min-size 4 > max-size 3/],
    ['0', '0', 'NoScalingCapacity', /max-size is 0/],
  ])('min %j max %j: disables only that group', (min, max, code, reason) => {
    const r = run({ machineDeployments: [md('bad', { annotations: bounds(min, max) }), md('good')] });
    const bad = group(r, k('bad'));
    expect(bad.disabledCode).toBe(code);
    expect(bad.disabled).toMatch(reason);
    expect(group(r, k('good')).disabled).toBeUndefined();
    expect(r.ignored).toEqual([]);
  });

  it('a disabled group keeps what could be read and omits the rest', () => {
    const r = run({ machineDeployments: [md('bad', { annotations: bounds('x', '4'), replicas: 2 })] });
    const g = group(r, k('bad'));
    expect(g).toMatchObject({ maxSize: 4, replicas: 2, options: DEFAULT_OPTIONS });
    expect(g).not.toHaveProperty('minSize');
  });

  it('every problem is reported, the first one gives the code', () => {
    const r = run({
      machineDeployments: [
        md('bad', {
          annotations: { ...bounds('a', 'b'), [`${OPTION_ANNOTATION_PREFIX}scaledownunneededtime`]: 'soon' },
          replicas: null,
        }),
      ],
    });
    const g = group(r, k('bad'));
    expect(g.disabledCode).toBe('InvalidBounds');
    expect(g.disabled).toMatch(
      /min-size "a".*; max-size "b".*; .*scaledownunneededtime.*; no spec\.replicas/,
    );
  });
});

describe('paused and deleting objects are skipped', () => {
  it.each<[string, Partial<DiscoverNodeGroupsInput>, RegExp]>([
    [
      'Cluster spec.paused',
      { clusters: [cluster('prod', { paused: true }), cluster('dev')] },
      /^paused: Cluster prod spec\.paused$/,
    ],
    [
      'Cluster paused annotation',
      { clusters: [cluster('prod', { annotations: { [ANNOTATIONS.paused]: '' } }), cluster('dev')] },
      /^paused: Cluster prod annotation$/,
    ],
    [
      'v1beta1 Cluster spec.paused',
      { clusters: [cluster('prod', { paused: true, version: 'v1beta1' }), cluster('dev')] },
      /^paused: Cluster prod spec\.paused$/,
    ],
  ])('%s', (_n, i, reason) => {
    const r = run({ ...i, machineDeployments: [md('md-a'), md('other', { cluster: 'dev' })] });
    expect(ignoredOf(r, k('md-a'))).toEqual({
      key: k('md-a'),
      code: 'Paused',
      reason: expect.stringMatching(reason),
    });
    expect(group(r, k('other')).disabled).toBeUndefined();
  });

  it.each<['MachineDeployment' | 'MachineSet']>([['MachineDeployment'], ['MachineSet']])(
    'paused annotation on the %s',
    (kind) => {
      const annotations = { ...bounds('1', '5'), [ANNOTATIONS.paused]: 'true' };
      const r = run({
        machineDeployments: kind === 'MachineDeployment' ? [md('x', { annotations })] : [],
        machineSets: kind === 'MachineSet' ? [ms('x', { annotations })] : [],
      });
      expect(r.groups).toEqual([]);
      expect(ignoredOf(r, k('x', kind))).toMatchObject({ code: 'Paused', reason: 'paused: annotation' });
    },
  );

  it('MachineDeployment spec.paused does not skip it (CAPI still propagates replicas when paused)', () => {
    const raw = md('md-a');
    (raw.spec as Record<string, unknown>)['paused'] = true;
    expect(group(run({ machineDeployments: [raw] }), k('md-a')).disabled).toBeUndefined();
  });

  it.each<['MachineDeployment' | 'MachineSet']>([['MachineDeployment'], ['MachineSet']])(
    'a %s being deleted',
    (kind) => {
      const o = scalable(kind, 'gone', { deleting: true });
      const r = run(kind === 'MachineDeployment' ? { machineDeployments: [o] } : { machineSets: [o] });
      expect(r.groups).toEqual([]);
      expect(ignoredOf(r, k('gone', kind))).toMatchObject({ code: 'Deleting' });
    },
  );
});

describe('MachineSets', () => {
  it.each<[string, Record<string, unknown>]>([
    ['controller owner', controllerRef('MachineDeployment', 'md-a')],
    ['v1beta1 controller owner', controllerRef('MachineDeployment', 'md-a', 'v1beta1')],
    [
      'non-controller owner (as upstream)',
      { ...controllerRef('MachineDeployment', 'md-a'), controller: false },
    ],
  ])('owned by a MachineDeployment (%s): ignored even with bounds', (_n, ref) => {
    const r = run({
      machineDeployments: [md('md-a')],
      machineSets: [ms('md-a-x1', { ownerReferences: [ref] })],
    });
    expect(r.groups.map((g) => g.key)).toEqual([k('md-a')]);
    expect(ignoredOf(r, k('md-a-x1', 'MachineSet'))).toEqual({
      key: k('md-a-x1', 'MachineSet'),
      code: 'OwnedByMachineDeployment',
      reason: 'owned by MachineDeployment md-a',
    });
  });

  it('an owner of another kind or group does not count', () => {
    const refs = [
      { apiVersion: 'example.com/v1', kind: 'MachineDeployment', name: 'x', uid: 'u1', controller: true },
      { apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Cluster', name: 'prod', uid: 'u2' },
    ];
    const r = run({ machineSets: [ms('solo', { ownerReferences: refs })] });
    expect(group(r, k('solo', 'MachineSet')).disabled).toBeUndefined();
  });

  it('a MachineDeployment and a MachineSet of the same name are two groups', () => {
    const r = run({ machineDeployments: [md('same')], machineSets: [ms('same')] });
    expect(r.groups.map((g) => g.key)).toEqual([k('same'), k('same', 'MachineSet')]);
  });
});

describe('discovery', () => {
  const objects = {
    machineDeployments: [
      md('a', { labels: { env: 'prod', tier: 'web' } }),
      md('b', { cluster: 'dev', labels: { env: 'dev' } }),
      md('c', { namespace: 'team-b', labels: { env: 'prod', tier: '' } }),
    ],
  };
  const clusters = [cluster('prod'), cluster('dev'), cluster('prod', { namespace: 'team-b' })];
  const A = k('a');
  const B = k('b');
  const C = k('c', 'MachineDeployment', 'team-b');

  it.each<[string, Config['discovery'], string[]]>([
    ['empty: every opted-in group', [], [A, B, C]],
    ['namespace', [{ namespace: 'team-b' }], [C]],
    ['clusterName', [{ clusterName: 'dev' }], [B]],
    ['clusterName in two namespaces', [{ clusterName: 'prod' }], [A, C]],
    ['one label', [{ labels: { env: 'prod' } }], [A, C]],
    ['every label of an entry must match', [{ labels: { env: 'prod', tier: 'web' } }], [A]],
    ['all parts of an entry must match', [{ namespace: 'team-a', labels: { env: 'dev' } }], [B]],
    ['parts that contradict match nothing', [{ namespace: 'team-b', clusterName: 'dev' }], []],
    ['an empty label value needs the label, empty', [{ labels: { tier: '' } }], [C]],
    ['any entry', [{ clusterName: 'dev' }, { namespace: 'team-b' }], [B, C]],
    ['an empty entry matches everything', [{}], [A, B, C]],
  ])('%s', (_n, discovery, want) => {
    const r = run({ ...objects, clusters, discovery });
    expect(r.groups.map((g) => g.key)).toEqual(want);
    const notDiscovered = r.ignored.filter((x) => x.code === 'NotDiscovered').map((x) => x.key);
    expect(notDiscovered).toEqual([A, B, C].filter((x) => !want.includes(x)));
  });

  it('entries parsed from cluster-autoscaler clusterapi: specs', () => {
    const { discovery } = ConfigSchema.parse({ discovery: ['clusterapi:namespace=team-a,env=dev'] });
    expect(run({ ...objects, clusters, discovery }).groups.map((g) => g.key)).toEqual([B]);
  });

  it('discovery is checked before opting in', () => {
    const r = run({ machineDeployments: [md('x', { annotations: {} })], discovery: [{ namespace: 'zzz' }] });
    expect(ignoredOf(r, k('x'))?.code).toBe('NotDiscovered');
  });
});

describe('autoscaling options annotations', () => {
  const opt = (name: string) => `${OPTION_ANNOTATION_PREFIX}${name}`;
  const withOptions = (o: Record<string, string>) =>
    run({ machineDeployments: [md('g', { annotations: { ...bounds('1', '5'), ...o } }), md('plain')] });

  it('override the defaults for that group only', () => {
    const r = withOptions({
      [opt('scaledownutilizationthreshold')]: '0.7',
      [opt('scaledownunneededtime')]: '1h30m',
      [opt('scaledownunreadytime')]: '0',
      [opt('maxnodeprovisiontime')]: '90s',
    });
    expect(group(r, k('g')).options).toEqual({
      scaleDownUtilizationThreshold: 0.7,
      scaleDownUnneededTime: 5_400_000,
      scaleDownUnreadyTime: 0,
      maxNodeProvisionTime: 90_000,
    });
    expect(group(r, k('plain')).options).toEqual(DEFAULT_OPTIONS);
  });

  it.each<[string, string, string, keyof typeof DEFAULT_OPTIONS, number]>([
    ['threshold 0', 'scaledownutilizationthreshold', '0', 'scaleDownUtilizationThreshold', 0],
    ['threshold 1', 'scaledownutilizationthreshold', '1', 'scaleDownUtilizationThreshold', 1],
    ['threshold .25', 'scaledownutilizationthreshold', '.25', 'scaleDownUtilizationThreshold', 0.25],
    ['threshold 5E-1', 'scaledownutilizationthreshold', '5E-1', 'scaleDownUtilizationThreshold', 0.5],
    [
      'upper-case unit (lower-cased as upstream)',
      'scaledownunneededtime',
      '2H',
      'scaleDownUnneededTime',
      7_200_000,
    ],
    ['fractional duration', 'scaledownunreadytime', '1.5m', 'scaleDownUnreadyTime', 90_000],
    ['sub-millisecond part truncated', 'maxnodeprovisiontime', '1500us', 'maxNodeProvisionTime', 1],
  ])('valid: %s', (_n, name, value, field, want) => {
    const g = group(withOptions({ [opt(name)]: value }), k('g'));
    expect(g.disabled).toBeUndefined();
    expect(g.options).toEqual({ ...DEFAULT_OPTIONS, [field]: want });
  });

  it('an empty value or an unknown option is ignored (as upstream)', () => {
    const g = group(
      withOptions({ [opt('scaledownunneededtime')]: '', [opt('scaledowngpuutilizationthreshold')]: '0.1' }),
      k('g'),
    );
    expect(g.disabled).toBeUndefined();
    expect(g.options?.scaleDownUnneededTime).toBe(DEFAULTS.scaleDownUnneededTime);
  });

  it.each<[string, string, RegExp]>([
    ['scaledownutilizationthreshold', '1.5', /not between 0 and 1/],
    ['scaledownutilizationthreshold', '-0.1', /not between 0 and 1/],
    ['scaledownutilizationthreshold', 'half', /not a number/],
    ['scaledownutilizationthreshold', 'NaN', /not a number/],
    ['scaledownutilizationthreshold', ' 0.5', /not a number/],
    ['scaledownunneededtime', '10', /missing unit/],
    ['scaledownunneededtime', '1d', /unknown unit "d"/],
    ['scaledownunneededtime', '-5m', /negative/],
    ['scaledownunreadytime', '10 m', /invalid duration/],
    ['maxnodeprovisiontime', '0s', /must be > 0/],
  ])('malformed %s %j disables only that group', (name, value, reason) => {
    const r = withOptions({ [opt(name)]: value });
    const g = group(r, k('g'));
    expect(g.disabledCode).toBe('InvalidOption');
    expect(g.disabled).toContain(opt(name));
    expect(g.disabled).toMatch(reason);
    expect(g).toMatchObject({ minSize: 1, maxSize: 5, replicas: 2 });
    expect(g).not.toHaveProperty('options');
    expect(group(r, k('plain')).disabled).toBeUndefined();
  });
});

describe('other reasons a listed group is disabled', () => {
  it.each<CapiVersion>(['v1beta2', 'v1beta1'])('%s: no spec.replicas', (version) => {
    const r = run({ machineDeployments: [md('md-a', { version, replicas: null })] });
    const g = group(r, k('md-a'));
    expect(g).toMatchObject({
      disabledCode: 'NoReplicas',
      disabled: 'no spec.replicas',
      minSize: 1,
      maxSize: 5,
    });
    expect(g).not.toHaveProperty('replicas');
  });

  it('replicas 0 is a number, not missing', () => {
    const g = group(
      run({ machineDeployments: [md('z', { annotations: bounds('0', '3'), replicas: 0 })] }),
      k('z'),
    );
    expect(g.replicas).toBe(0);
    expect(g.disabled).toBeUndefined();
  });

  it('its Cluster is missing (pause cannot be checked)', () => {
    const g = group(run({ machineDeployments: [md('md-a', { cluster: 'nope' })] }), k('md-a'));
    expect(g).toMatchObject({ disabledCode: 'ClusterUnavailable', disabled: 'Cluster nope not found' });
  });

  it('a Cluster of the same name in another namespace does not count', () => {
    const r = run({
      clusters: [cluster('prod', { namespace: 'elsewhere' })],
      machineDeployments: [md('md-a')],
    });
    expect(group(r, k('md-a')).disabledCode).toBe('ClusterUnavailable');
  });
});

describe('unreadable objects are reported, never thrown', () => {
  it('a broken MachineDeployment, MachineSet and Cluster', () => {
    const brokenMd = md('broken');
    (brokenMd.spec as Record<string, unknown>)['replicas'] = 'three';
    const brokenCluster = { ...cluster('dev'), spec: { paused: 'yes' } };
    const r = run({
      clusters: [cluster('prod'), brokenCluster],
      machineDeployments: [brokenMd, md('good'), md('on-dev', { cluster: 'dev' }), null],
      machineSets: [{ apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'MachineSet' }, md('wrong-kind')],
    });
    expect(r.groups.map((g) => [g.key, g.disabledCode])).toEqual([
      [k('good'), undefined],
      [k('on-dev'), 'ClusterUnavailable'],
    ]);
    expect(group(r, k('on-dev')).disabled).toBe('Cluster dev unreadable');
    expect(r.ignored.map((x) => [x.key, x.code])).toEqual([
      [k('dev', 'Cluster'), 'Unreadable'],
      ['MachineDeployment//<unnamed>', 'Unreadable'],
      [k('broken'), 'Unreadable'],
      ['MachineSet//<unnamed>', 'Unreadable'],
      [k('wrong-kind', 'MachineSet'), 'Unreadable'],
    ]);
    expect(ignoredOf(r, k('broken'))?.reason).toMatch(/spec\.replicas/);
    expect(ignoredOf(r, k('wrong-kind', 'MachineSet'))?.reason).toMatch(/expected MachineSet/);
  });
});

describe('determinism', () => {
  it('output is sorted by key whatever the input order', () => {
    const mds = ['d', 'a', 'c', 'b'].map((n) => md(n));
    const sets = [
      ms('b'),
      ms('m', { annotations: {} }),
      ms('a', { ownerReferences: [controllerRef('MachineDeployment', 'a')] }),
    ];
    const one = run({ machineDeployments: mds, machineSets: sets });
    const two = run({ machineDeployments: [...mds].reverse(), machineSets: [...sets].reverse() });
    expect(two).toEqual(one);
    expect(one.groups.map((g) => g.key)).toEqual([k('a'), k('b'), k('c'), k('d'), k('b', 'MachineSet')]);
    expect(one.ignored.map((x) => x.key)).toEqual([k('a', 'MachineSet'), k('m', 'MachineSet')]);
  });
});
