import { describe, expect, it } from 'vitest';
import { CapiParseError, discoverCapiVersion } from '../../src/capi/adapters/index.ts';
import type { CapiVersion } from '../../src/capi/types.ts';

describe('discoverCapiVersion', () => {
  const group = (preferred: string | undefined, versions: string[]) => ({
    kind: 'APIGroup',
    apiVersion: 'v1',
    name: 'cluster.x-k8s.io',
    versions: versions.map((v) => ({ groupVersion: `cluster.x-k8s.io/${v}`, version: v })),
    ...(preferred
      ? { preferredVersion: { groupVersion: `cluster.x-k8s.io/${preferred}`, version: preferred } }
      : {}),
  });

  it.each<[string, unknown, CapiVersion]>([
    ['preferred v1beta2', group('v1beta2', ['v1beta2', 'v1beta1']), 'v1beta2'],
    ['preferred v1beta1 (CAPI ≤ 1.10)', group('v1beta1', ['v1beta1', 'v1beta2']), 'v1beta1'],
    ['preferred unsupported, newest supported served', group('v1', ['v1', 'v1beta1', 'v1beta2']), 'v1beta2'],
    ['no preferred version, only v1beta1 served', group(undefined, ['v1alpha4', 'v1beta1']), 'v1beta1'],
  ])('%s', (_name, discovery, expected) => {
    expect(discoverCapiVersion(discovery)).toBe(expected);
  });

  it.each<[string, unknown]>([
    ['nothing supported served', group('v1alpha4', ['v1alpha4'])],
    ['no versions at all', group(undefined, [])],
    ['another group', { ...group('v1beta2', ['v1beta2']), name: 'infrastructure.cluster.x-k8s.io' }],
    ['not an object', 'cluster.x-k8s.io'],
  ])('throws when %s', (_name, discovery) => {
    expect(() => discoverCapiVersion(discovery)).toThrow(CapiParseError);
  });
});
