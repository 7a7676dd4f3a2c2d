import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.ts';
import { FIELDS } from '../../src/config/fields.ts';
import { loadConfig, type ConfigSources } from '../../src/config/load.ts';
import { extractReferenceSection, normalizeTable, renderReferenceTable } from '../../src/config/reference.ts';
import { parseAutoDiscoverySpec } from '../../src/config/discovery.ts';
import { DEFAULT_CONFIG } from '../../src/config/schema.ts';

interface Input {
  files?: Record<string, string>;
  env?: Record<string, string>;
  argv?: string[];
}

function sources({ files = {}, env = {}, argv = [] }: Input): ConfigSources {
  return {
    argv,
    env,
    readFile: (path) => {
      const text = files[path];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
      return text;
    },
  };
}

const F = '/etc/capi-autopilot/config.yaml';
const FILE = `file:${F}`;
const file = (yaml: string, more: Omit<Input, 'files'> = {}): Input => ({
  ...more,
  files: { [F]: yaml },
  argv: ['--config', F, ...(more.argv ?? [])],
});
const load = (input: Input) => loadConfig(sources(input));

function loadError(input: Input): ConfigError {
  try {
    load(input);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('bad configurations are refused with the field and the source named', () => {
  it.each<[string, Input, string, string, string?]>([
    ['string for a number', file('kubeClient:\n  qps: fast\n'), 'kubeClient.qps', FILE, 'expected number'],
    [
      'YAML 1.2 "yes" is a string, not a boolean',
      file('autoscaler:\n  scaleDownEnabled: yes\n'),
      'autoscaler.scaleDownEnabled',
      FILE,
      'true or false',
    ],
    ['negative burst', file('kubeClient:\n  burst: -1\n'), 'kubeClient.burst', FILE, 'an integer >= 1'],
    [
      'utilization threshold above 1',
      file('autoscaler:\n  scaleDownUtilizationThreshold: 1.5\n'),
      'autoscaler.scaleDownUtilizationThreshold',
      FILE,
      'from 0 to 1',
    ],
    ['port 0', file('server:\n  port: 0\n'), 'server.port', FILE, 'from 1 to 65535'],
    [
      'port above 65535 by --port',
      { argv: ['--port', '70000'] },
      'server.port',
      'flag:--port=70000',
      '70000',
    ],
    [
      'fraction for an integer',
      file('autoscaler:\n  maxNodesTotal: 2.5\n'),
      'autoscaler.maxNodesTotal',
      FILE,
      'an integer',
    ],
    [
      'duration in words',
      file('autoscaler:\n  scaleDownUnneededTime: 10 minutes\n'),
      'autoscaler.scaleDownUnneededTime',
      FILE,
      'unknown unit',
    ],
    [
      'duration in days from the environment',
      { env: { CAPI_AUTOPILOT_AUTOSCALER_MAX_NODE_PROVISION_TIME: '1d' } },
      'autoscaler.maxNodeProvisionTime',
      'env:CAPI_AUTOPILOT_AUTOSCALER_MAX_NODE_PROVISION_TIME',
      'unknown unit "d"',
    ],
    [
      'negative duration',
      file('drain:\n  podEvictionTimeout: -5m\n'),
      'drain.podEvictionTimeout',
      FILE,
      'must not be negative',
    ],
    [
      'zero where a positive duration is needed',
      file('autoscaler:\n  maxPodEvictionTime: "0"\n'),
      'autoscaler.maxPodEvictionTime',
      FILE,
      'greater than 0',
    ],
    [
      'bare number for a duration',
      file('autoscaler:\n  scaleDownUnneededTime: 600\n'),
      'autoscaler.scaleDownUnneededTime',
      FILE,
      'expected string',
    ],
    ['unknown section', file('autoscalr:\n  expander: random\n'), 'autoscalr', FILE, 'one of management,'],
    [
      '__proto__ is just an unknown field',
      file('__proto__:\n  log: { level: trace }\n'),
      '__proto__',
      FILE,
      'unknown field',
    ],
    [
      'unknown field in a section',
      file('autoscaler:\n  scanInterval: 10s\n'),
      'autoscaler.scanInterval',
      FILE,
      'scanIntervalSeconds',
    ],
    [
      'unknown field in a discovery entry',
      file('discovery:\n  - cluster: demo\n'),
      'discovery[0].cluster',
      FILE,
      'one of namespace, clusterName, labels',
    ],
    [
      'wrong type three levels down',
      file('discovery:\n  - labels: { color: 5 }\n'),
      'discovery[0].labels.color',
      FILE,
      'expected string',
    ],
    [
      'invalid label key',
      file('discovery:\n  - labels: { -bad: x }\n'),
      'discovery[0].labels.-bad',
      FILE,
      'invalid key "-bad"; got "-bad"; allowed: a label key',
    ],
    [
      'invalid label value',
      file('discovery:\n  - labels: { team: "-x" }\n'),
      'discovery[0].labels.team',
      FILE,
      'allowed: a label value',
    ],
    [
      'discovery namespace that is not a DNS label',
      file('discovery:\n  - namespace: Blue\n'),
      'discovery[0].namespace',
      FILE,
      'allowed: a namespace name',
    ],
    [
      'bad cluster-autoscaler discovery spec',
      file('discovery:\n  - aws:tag=x\n'),
      'discovery[0]',
      FILE,
      'unsupported discoverer',
    ],
    ['bad expander', file('autoscaler:\n  expander: cheapest\n'), 'autoscaler.expander', FILE, 'least-waste'],
    [
      'bad log level by --log-level',
      { argv: ['--log-level', 'verbose'] },
      'log.level',
      'flag:--log-level=verbose',
      'one of trace, debug',
    ],
    [
      'bad log format from the environment',
      { env: { CAPI_AUTOPILOT_LOG_FORMAT: 'text' } },
      'log.format',
      'env:CAPI_AUTOPILOT_LOG_FORMAT',
      'json, pretty',
    ],
    [
      'lease duration not above the renew deadline',
      file('leaderElection:\n  leaseDurationSeconds: 10\n'),
      'leaderElection.leaseDurationSeconds',
      FILE,
      'leaderElection.renewDeadlineSeconds (10)',
    ],
    [
      'renew deadline within retryPeriod x 1.2 (blames the field that was set)',
      { env: { CAPI_AUTOPILOT_LEADERELECTION_RETRY_PERIOD_SECONDS: '9' } },
      'leaderElection.retryPeriodSeconds',
      'env:CAPI_AUTOPILOT_LEADERELECTION_RETRY_PERIOD_SECONDS',
      'leaderElection.retryPeriodSeconds (9) x 1.2',
    ],
    [
      'unknown CAPI_AUTOPILOT_ variable (with a suggestion)',
      { env: { CAPI_AUTOPILOT_KUBE_CLIENT_QPS: '20' } },
      'kube_client_qps',
      'env:CAPI_AUTOPILOT_KUBE_CLIENT_QPS',
      'CAPI_AUTOPILOT_KUBECLIENT_QPS (did you mean it?)',
    ],
    [
      'unknown CAPI_AUTOPILOT_ section',
      { env: { CAPI_AUTOPILOT_FOO: '1' } },
      'foo',
      'env:CAPI_AUTOPILOT_FOO',
      'unknown variable',
    ],
    [
      '--set without a value',
      { argv: ['--set', 'autoscaler.scanIntervalSeconds'] },
      'autoscaler.scanIntervalSeconds',
      'flag:--set autoscaler.scanIntervalSeconds',
      'section.key=value',
    ],
    [
      '--set of an unknown field',
      { argv: ['--set', 'autoscaler.nope=1'] },
      'autoscaler.nope',
      'flag:--set autoscaler.nope=1',
      'autoscaler.expander',
    ],
    [
      '--set of an unknown section',
      { argv: ['--set=nope.x=1'] },
      'nope.x',
      'flag:--set nope.x=1',
      'no such field',
    ],
    [
      '--set with a non-number',
      { argv: ['--set', 'kubeClient.qps=fast'] },
      'kubeClient.qps',
      'flag:--set kubeClient.qps=fast',
      'expected number',
    ],
    ['unknown flag', { argv: ['--verbose'] }, '(flags)', 'flag:--verbose', '--set'],
    ['flag without its value', { argv: ['--port'] }, '(flags)', 'flag:--port', 'needs a value'],
    ['YAML syntax error', file('kubeClient:\n  qps: 5\n   burst: 10\n'), '(config file)', FILE, `${F}:3:9`],
    [
      'missing --config file',
      { argv: ['--config', '/nope/config.yaml'] },
      '(config file)',
      'flag:--config=/nope/config.yaml',
      'cannot read /nope/config.yaml: no such file',
    ],
    [
      'missing file from CAPI_AUTOPILOT_CONFIG',
      { env: { CAPI_AUTOPILOT_CONFIG: '/nope.yaml' } },
      '(config file)',
      'env:CAPI_AUTOPILOT_CONFIG',
      '/nope.yaml',
    ],
    ['YAML that is not a mapping', file('- autoscaler\n- log\n'), '(root)', FILE, 'not a YAML mapping'],
    ['two YAML documents', file('log: {}\n---\nlog: {}\n'), '(config file)', FILE, '2 YAML documents'],
    [
      'in-cluster and a kubeconfig',
      file('management:\n  inCluster: true\n  kubeconfig: /k\n'),
      'management.inCluster',
      FILE,
      'management.kubeconfig',
    ],
    [
      'kubeconfig mode without kubeconfigs',
      file('workloadClusters:\n  mode: kubeconfig\n'),
      'workloadClusters.mode',
      FILE,
      'at least one entry',
    ],
    [
      'kubeconfigs with another mode',
      file('workloadClusters:\n  kubeconfigs: { a: /k/a }\n'),
      'workloadClusters.kubeconfigs',
      FILE,
      'not same',
    ],
    [
      'not a boolean in the environment',
      { env: { CAPI_AUTOPILOT_LEADERELECTION_ENABLED: 'maybe' } },
      'leaderElection.enabled',
      'env:CAPI_AUTOPILOT_LEADERELECTION_ENABLED',
      '"maybe"',
    ],
    [
      'bind address that is not an IP',
      file('server:\n  bindAddress: localhost\n'),
      'server.bindAddress',
      FILE,
      'IPv4 or IPv6',
    ],
    [
      'namespace that is not a DNS label',
      file('leaderElection:\n  namespace: Kube_System\n'),
      'leaderElection.namespace',
      FILE,
      'DNS-1123 label',
    ],
    [
      'broken YAML in an environment list',
      { env: { CAPI_AUTOPILOT_DISCOVERY: '[{namespace: blue' } },
      'discovery',
      'env:CAPI_AUTOPILOT_DISCOVERY',
      'not valid YAML',
    ],
  ])('%s', (_name, input, field, source, fragment) => {
    const err = loadError(input);
    expect(err.problems.map((p) => [p.field, p.source])).toContainEqual([field, source]);
    expect(err.message).toContain(`${field}: `);
    expect(err.message).toContain(`source: ${source}`);
    if (fragment !== undefined) expect(err.message).toContain(fragment);
  });
});

describe('ConfigError', () => {
  it('lists every problem, with field, value, allowed values and source on each line', () => {
    const err = loadError(
      file('kubeClient:\n  qps: -1\nlog:\n  level: loud\n', {
        env: { CAPI_AUTOPILOT_SERVER_PORT: '0' },
        argv: ['--set', 'drain.nope=1'],
      }),
    );
    expect(err.problems.map((p) => p.field)).toEqual([
      'drain.nope',
      'kubeClient.qps',
      'server.port',
      'log.level',
    ]);
    expect(err.message.split('\n')).toHaveLength(5);
    expect(err.message).toMatch(/^invalid configuration, 4 problems:\n {2}- /);
    expect(err.message).toContain(
      `log.level: Invalid option: expected one of "trace"|"debug"|"info"|"warn"|"error"; got "loud"; allowed: one of trace, debug, info, warn, error; source: ${FILE}`,
    );
    expect(err).toMatchObject({
      code: 'Config',
      field: 'drain.nope',
      value: '1',
      source: 'flag:--set drain.nope=1',
    });
  });

  it('names the YAML line and column', () => {
    const err = loadError(file('autoscaler:\n  expander: [least-waste\n'));
    expect(err.message).toMatch(new RegExp(`YAML syntax error at ${F}:\\d+:\\d+: `));
  });
});

describe('precedence: defaults < file < environment < flags', () => {
  const yaml = 'kubeClient:\n  qps: 10\n  burst: 30\n';
  const env = { CAPI_AUTOPILOT_KUBECLIENT_QPS: '20' };

  it.each<[string, Input, number]>([
    ['default', {}, 5],
    ['file over default', file(yaml), 10],
    ['environment over file', file(yaml, { env }), 20],
    ['--set over environment', file(yaml, { env, argv: ['--set', 'kubeClient.qps=30'] }), 30],
    [
      'a later --set over an earlier one',
      { argv: ['--set', 'kubeClient.qps=1', '--set=kubeClient.qps=2.5'] },
      2.5,
    ],
  ])('%s', (_name, input, qps) => {
    expect(load(input).kubeClient.qps).toBe(qps);
  });

  it('keeps what a higher layer does not mention', () => {
    expect(load(file(yaml, { env })).kubeClient.burst).toBe(30);
  });

  it('applies shorthands and --set in argv order', () => {
    expect(load({ argv: ['--port', '9000', '--set', 'server.port=9001'] }).server.port).toBe(9001);
    expect(load({ argv: ['--set', 'server.port=9001', '--port=9000'] }).server.port).toBe(9000);
    expect(load({ argv: ['--kubeconfig', '/k/mgmt', '--log-level', 'debug'] })).toMatchObject({
      management: { kubeconfig: '/k/mgmt' },
      log: { level: 'debug' },
    });
  });

  it('takes the file from --config over CAPI_AUTOPILOT_CONFIG', () => {
    const input: Input = {
      files: { '/a.yaml': 'log: { level: warn }', '/b.yaml': 'log: { level: error }' },
      env: { CAPI_AUTOPILOT_CONFIG: '/a.yaml' },
    };
    expect(load(input).log.level).toBe('warn');
    expect(load({ ...input, argv: ['--config=/b.yaml'] }).log.level).toBe('error');
  });

  it('replaces a map from the environment and sets one entry from --set', () => {
    const input = file('workloadClusters:\n  mode: kubeconfig\n  kubeconfigs: { a: /k/a, b: /k/b }\n', {
      env: { CAPI_AUTOPILOT_WORKLOADCLUSTERS_KUBECONFIGS: '{c: /k/c}' },
      argv: ['--set', 'workloadClusters.kubeconfigs.d=/k/d'],
    });
    expect(load(input).workloadClusters.kubeconfigs).toEqual({ c: '/k/c', d: '/k/d' });
  });
});

describe('defaults', () => {
  it("equal cluster-autoscaler's (config/flags/flags.go), durations in milliseconds", () => {
    expect(DEFAULT_CONFIG.autoscaler).toEqual({
      scanIntervalSeconds: 10,
      scaleDownEnabled: true,
      scaleDownUnneededTime: 10 * 60_000,
      scaleDownUnreadyTime: 20 * 60_000,
      scaleDownDelayAfterAdd: 10 * 60_000,
      scaleDownDelayAfterDelete: 10_000, // the scan interval
      scaleDownDelayAfterFailure: 3 * 60_000,
      scaleDownUtilizationThreshold: 0.5,
      maxNodeProvisionTime: 15 * 60_000,
      maxGracefulTerminationSeconds: 600,
      maxPodEvictionTime: 2 * 60_000,
      maxEmptyBulkDelete: 10,
      maxScaleDownParallelism: 10,
      maxScaleDownDrainsPerNodeGroup: 1, // ours, per group; upstream's --max-drain-parallelism 1 is global
      expander: 'least-waste',
      newPodScaleUpDelay: 0, // --new-pod-scale-up-delay
      scaleUpBatchIdle: 1000, // ours (event-driven); upstream scans every 10 s
      scaleUpBatchMax: 10_000,
      maxCoresTotal: 320_000, // the max of --cores-total 0:320000
      maxMemoryTotalGiB: 6_400_000, // the max of --memory-total 0:6400000
      priorityExpanderNamespace: 'kube-system', // where upstream usually runs, with its ConfigMap
      maxNodesTotal: 0,
      skipNodesWithLocalStorage: true,
      skipNodesWithSystemPods: true,
      skipNodesWithCustomControllerPods: true,
    });
  });

  it("equal client-go's for the client (rest.DefaultQPS/DefaultBurst) and leader election", () => {
    expect(DEFAULT_CONFIG.kubeClient).toMatchObject({ qps: 5, burst: 10 });
    expect(DEFAULT_CONFIG.leaderElection).toMatchObject({
      enabled: true,
      namespace: 'kube-system',
      leaseDurationSeconds: 15,
      renewDeadlineSeconds: 10,
      retryPeriodSeconds: 2,
    });
  });

  it('are what loading nothing gives, and an empty file changes nothing', () => {
    expect(load({})).toEqual(DEFAULT_CONFIG);
    expect(load(file('# nothing yet\n'))).toEqual(DEFAULT_CONFIG);
  });

  it('derive scaleDownDelayAfterDelete from the scan interval unless it is set', () => {
    expect(
      load({ env: { CAPI_AUTOPILOT_AUTOSCALER_SCAN_INTERVAL_SECONDS: '30' } }).autoscaler
        .scaleDownDelayAfterDelete,
    ).toBe(30_000);
    expect(
      load({ argv: ['--set', 'autoscaler.scaleDownDelayAfterDelete=1m30s'] }).autoscaler
        .scaleDownDelayAfterDelete,
    ).toBe(90_000);
  });

  it('put the Lease in POD_NAMESPACE when it is set and nothing else says otherwise', () => {
    expect(load({ env: { POD_NAMESPACE: 'capi-system' } }).leaderElection.namespace).toBe('capi-system');
    const input = file('leaderElection: { namespace: ops }', { env: { POD_NAMESPACE: 'capi-system' } });
    expect(load(input).leaderElection.namespace).toBe('ops');
  });
});

describe('values from the environment', () => {
  it('ignores the sandbox variables and empty values', () => {
    const env = {
      CAPI_AUTOPILOT_K8S_BIN: '/bin',
      CAPI_AUTOPILOT_CACHE: '/c',
      CAPI_AUTOPILOT_PID_LOG: '/p',
      CAPI_AUTOPILOT_LOG_LEVEL: '',
    };
    expect(load({ env })).toEqual(DEFAULT_CONFIG);
  });

  it.each([
    ['false', false],
    ['0', false],
    ['F', false],
    ['TRUE', true],
    ['1', true],
  ])('reads booleans as Go flags do: %s', (text, value) => {
    expect(load({ env: { CAPI_AUTOPILOT_DRAIN_IGNORE_DAEMON_SETS: text } }).drain.ignoreDaemonSets).toBe(
      value,
    );
  });
});

describe('discovery', () => {
  it("takes cluster-autoscaler's clusterapi specs as well as objects", () => {
    const cfg = load(
      file(
        'discovery:\n  - clusterapi:namespace=staging,clusterName=purple,owner=jim\n  - { namespace: blue }\n',
      ),
    );
    expect(cfg.discovery).toEqual([
      { namespace: 'staging', clusterName: 'purple', labels: { owner: 'jim' } },
      { namespace: 'blue' },
    ]);
    const fromEnv = load({
      env: { CAPI_AUTOPILOT_DISCOVERY: 'clusterapi:namespace=blue clusterapi:color=green,shape=square' },
    });
    expect(fromEnv.discovery).toEqual([
      { namespace: 'blue' },
      { labels: { color: 'green', shape: 'square' } },
    ]);
  });

  it.each<[string, string]>([
    ['clusterapi', 'should be clusterapi:key=value'],
    ['clusterapi:a:b', 'should be clusterapi:key=value'],
    ['asg:tag=x', 'unsupported discoverer "asg"'],
    ['clusterapi:namespace', 'invalid key=value pair "namespace"'],
    ['clusterapi:a=b=c', 'invalid key=value pair "a=b=c"'],
    ['clusterapi:a=1,a=2', 'label "a" given twice'],
  ])('rejects %s', (spec, fragment) => {
    const r = parseAutoDiscoverySpec(spec);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain(fragment);
  });

  it('skips empty pairs and treats empty namespace or clusterName as any, as upstream', () => {
    expect(parseAutoDiscoverySpec('clusterapi:,namespace=,clusterName=x,')).toEqual({
      ok: true,
      value: { clusterName: 'x' },
    });
  });
});

describe('the result is frozen', () => {
  const cfg = load(file('discovery:\n  - labels: { a: b }\n'));

  it('at every depth', () => {
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.autoscaler)).toBe(true);
    expect(Object.isFrozen(cfg.discovery)).toBe(true);
    expect(Object.isFrozen(cfg.discovery[0]?.labels)).toBe(true);
    expect(Object.isFrozen(DEFAULT_CONFIG.log)).toBe(true);
  });

  it('so writes throw', () => {
    expect(() => {
      (cfg.log as { level: string }).level = 'trace';
    }).toThrow(TypeError);
    expect(() => (cfg.discovery as unknown[]).push({})).toThrow(TypeError);
  });
});

describe('reference table', () => {
  it('in README.md is the one generated from the schema (run: node scripts/config-reference.ts --write)', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(normalizeTable(extractReferenceSection(readme))).toBe(normalizeTable(renderReferenceTable()));
  });

  it('has a description and a distinct environment variable for every field', () => {
    expect(FIELDS.filter((f) => f.description === '').map((f) => f.name)).toEqual([]);
    expect(new Set(FIELDS.map((f) => f.envVar)).size).toBe(FIELDS.length);
  });
});
