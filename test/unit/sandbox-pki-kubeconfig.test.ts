import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { renderKubeconfig } from '../../src/sandbox/kubeconfig.ts';
import { randomToken, serviceAccountKeyPair, tokenFileLine } from '../../src/sandbox/pki.ts';

describe('token file', () => {
  it('writes token,user,uid,"groups"', () => {
    expect(tokenFileLine('abc', 'admin', 'u1', ['system:masters', 'g2'])).toBe(
      'abc,admin,u1,"system:masters,g2"\n',
    );
  });
  it.each(['a,b', 'a"b', 'a\nb'])('refuses a field with %j', (bad) => {
    expect(() => tokenFileLine(bad, 'admin', 'u', [])).toThrow(/may not contain/);
  });
  it('random tokens differ and are hex', () => {
    const a = randomToken();
    expect(a).toMatch(/^[0-9a-f]{48}$/);
    expect(randomToken()).not.toBe(a);
  });
});

describe('service-account keys', () => {
  it('are a PEM RSA private key and its public key', () => {
    const k = serviceAccountKeyPair();
    expect(k.privateKeyPem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    expect(k.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
  });
});

describe('kubeconfig', () => {
  it('is read by the client library as one cluster with a token user', () => {
    const text = renderKubeconfig({
      name: 'sb',
      server: 'https://127.0.0.1:6443',
      caPem: 'PEMDATA',
      token: 't0k',
    });
    const kc = new KubeConfig();
    kc.loadFromString(text);
    expect(kc.getCurrentContext()).toBe('sb');
    expect(kc.getCurrentCluster()?.server).toBe('https://127.0.0.1:6443');
    expect(Buffer.from(kc.getCurrentCluster()?.caData ?? '', 'base64').toString()).toBe('PEMDATA');
    expect(kc.getCurrentUser()?.token).toBe('t0k');
  });
});
