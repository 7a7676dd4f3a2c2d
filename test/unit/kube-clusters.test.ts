import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { assertSelfContained } from '../../src/kube/clusters.ts';

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = {}): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'c',
          cluster: { server: 'https://10.0.0.1:6443', 'certificate-authority-data': 'Q0E=', ...cluster },
        },
      ],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  return kc;
}

describe('kubeconfigs from Secrets must be self-contained', () => {
  it.each([
    ['inline token', { token: 't' }, {}, null],
    ['inline client certificate', { 'client-certificate-data': 'Qw==', 'client-key-data': 'Sw==' }, {}, null],
    [
      'exec plugin',
      { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: 'sh' } },
      {},
      /exec/,
    ],
    ['auth-provider', { 'auth-provider': { name: 'oidc', config: {} } }, {}, /auth-provider/],
    [
      'client certificate files',
      { 'client-certificate': '/etc/x.crt', 'client-key': '/etc/x.key' },
      {},
      /certificate files/,
    ],
    [
      'CA file',
      { token: 't' },
      { 'certificate-authority': '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt' },
      /certificate-authority file/,
    ],
  ] as const)('%s', (_n, user, cluster, refused) => {
    const run = () => assertSelfContained(kubeconfig(user, cluster), 'Secret ns/c-kubeconfig');
    if (refused) expect(run).toThrow(refused);
    else expect(run).not.toThrow();
  });
});
