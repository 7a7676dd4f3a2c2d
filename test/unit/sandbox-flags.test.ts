import { describe, expect, it } from 'vitest';
import {
  apiserverArgs,
  controllerManagerArgs,
  etcdArgs,
  parseMinor,
  schedulerArgs,
  type ApiserverOptions,
} from '../../src/sandbox/flags.ts';

const apiOpts = (minor: number): ApiserverOptions => ({
  etcdUrl: 'http://127.0.0.1:2379',
  etcdPrefix: '/registry',
  securePort: 6443,
  certDir: '/c',
  tokenFile: '/t.csv',
  saPublicKey: '/sa.pub',
  saPrivateKey: '/sa.key',
  serviceClusterIpRange: '10.96.0.0/16',
  minor,
});

describe('component flags', () => {
  it('apiserver: loopback only, RBAC, token auth, service-account signing, its own etcd prefix', () => {
    const args = apiserverArgs({ ...apiOpts(20), etcdPrefix: '/mgmt' });
    expect(args).toEqual(
      expect.arrayContaining([
        '--etcd-prefix=/mgmt',
        '--bind-address=127.0.0.1',
        '--secure-port=6443',
        '--authorization-mode=RBAC',
        '--token-auth-file=/t.csv',
        '--service-account-key-file=/sa.pub',
        '--service-account-signing-key-file=/sa.key',
        '--service-cluster-ip-range=10.96.0.0/16',
        '--cert-dir=/c',
      ]),
    );
    expect(args.some((a) => a.startsWith('--service-account-issuer='))).toBe(true);
  });

  it.each([
    [20, true],
    [23, true],
    [24, false],
  ])('apiserver 1.%i closes the insecure port: %s', (minor, expected) => {
    expect(apiserverArgs(apiOpts(minor)).includes('--insecure-port=0')).toBe(expected);
  });

  it('controller-manager runs every controller but nodeipam, with the token controller configured', () => {
    const args = controllerManagerArgs({
      kubeconfig: '/k',
      saPrivateKey: '/sa.key',
      rootCa: '/ca.crt',
      minor: 20,
    });
    expect(args).toEqual(
      expect.arrayContaining([
        '--controllers=*,-nodeipam',
        '--service-account-private-key-file=/sa.key',
        '--root-ca-file=/ca.crt',
        '--leader-elect=false',
        '--secure-port=0',
        '--port=0',
      ]),
    );
    expect(
      controllerManagerArgs({ kubeconfig: '/k', saPrivateKey: '/s', rootCa: '/c', minor: 26 }),
    ).not.toContain('--port=0');
  });

  it('scheduler: no leader election, no serving ports on 1.20', () => {
    expect(schedulerArgs({ kubeconfig: '/k', minor: 20 })).toEqual(
      expect.arrayContaining(['--kubeconfig=/k', '--leader-elect=false', '--secure-port=0', '--port=0']),
    );
    expect(schedulerArgs({ kubeconfig: '/k', minor: 30 })).not.toContain('--port=0');
  });

  it('etcd listens only on loopback ports it was given', () => {
    const args = etcdArgs('/data', { client: 1111, peer: 2222 });
    expect(args).toContain('--listen-client-urls=http://127.0.0.1:1111');
    expect(args).toContain('--listen-peer-urls=http://127.0.0.1:2222');
    expect(args).toContain('--data-dir=/data');
    expect(args.filter((a) => a.includes('0.0.0.0'))).toEqual([]);
  });

  it.each([
    ['Kubernetes v1.20.2\n', 20],
    ['Kubernetes v1.31.0-rc.1', 31],
  ])('parses the minor version of %j', (out, minor) => {
    expect(parseMinor(out)).toBe(minor);
  });

  it('refuses output without a version', () => {
    expect(() => parseMinor('command not found')).toThrow(/cannot read a Kubernetes version/);
  });
});
