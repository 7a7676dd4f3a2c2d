import { describe, expect, it } from 'vitest';
import {
  deletePriority,
  machinesToDelete,
  PRIORITY,
  type DeletionCandidate,
} from '../../src/sandbox/capi-sim/delete-priority.ts';
import type { DeletionOrder } from '../../src/capi/types.ts';

const now = new Date('2026-06-01T00:00:00Z');
const daysAgo = (d: number) => new Date(now.getTime() - d * 86_400_000).toISOString();

function m(name: string, o: Partial<DeletionCandidate> = {}): DeletionCandidate {
  return {
    name,
    annotations: {},
    nodeRef: `node-${name}`,
    conditions: [],
    creationTimestamp: daysAgo(1),
    ...o,
  };
}

describe('CAPI delete priority of a single machine', () => {
  it.each<[string, DeletionCandidate, DeletionOrder, number]>([
    [
      'deleting beats everything',
      m('a', { deletionTimestamp: daysAgo(0), annotations: { 'cluster.x-k8s.io/delete-machine': 'x' } }),
      'Random',
      PRIORITY.mustDelete,
    ],
    [
      'delete-machine annotation, any value',
      m('a', { annotations: { 'cluster.x-k8s.io/delete-machine': 'yes' } }),
      'Random',
      PRIORITY.shouldDeleteFirst,
    ],
    [
      'delete-machine annotation, empty value',
      m('a', { annotations: { 'cluster.x-k8s.io/delete-machine': '' } }),
      'Oldest',
      PRIORITY.shouldDeleteFirst,
    ],
    [
      'annotation beats unhealthy',
      m('a', { nodeRef: undefined, annotations: { 'cluster.x-k8s.io/delete-machine': '' } }),
      'Newest',
      PRIORITY.shouldDeleteFirst,
    ],
    [
      'in-place update in progress',
      m('a', { annotations: { 'in-place-updates.internal.cluster.x-k8s.io/update-in-progress': '' } }),
      'Random',
      PRIORITY.shouldDelete,
    ],
    ['no nodeRef is unhealthy', m('a', { nodeRef: undefined }), 'Random', PRIORITY.betterDelete],
    [
      'NodeHealthy=False is unhealthy',
      m('a', { conditions: [{ type: 'NodeHealthy', status: 'False' }] }),
      'Random',
      PRIORITY.betterDelete,
    ],
    [
      'HealthCheckSucceeded=False is unhealthy',
      m('a', { conditions: [{ type: 'HealthCheckSucceeded', status: 'False' }] }),
      'Oldest',
      PRIORITY.betterDelete,
    ],
    [
      'Unknown health counts as healthy',
      m('a', { conditions: [{ type: 'NodeHealthy', status: 'Unknown' }] }),
      'Random',
      PRIORITY.couldDelete,
    ],
    ['Random: every healthy machine 20', m('a'), 'Random', PRIORITY.couldDelete],
    ['Oldest: no creation time scores 0', m('a', { creationTimestamp: undefined }), 'Oldest', 0],
    ['Oldest: creation in the future scores 0', m('a', { creationTimestamp: daysAgo(-1) }), 'Oldest', 0],
    ['Oldest: 10 days old', m('a', { creationTimestamp: daysAgo(10) }), 'Oldest', 50 * (1 - Math.exp(-1))],
    [
      'Newest: 10 days old',
      m('a', { creationTimestamp: daysAgo(10) }),
      'Newest',
      50 - 50 * (1 - Math.exp(-1)),
    ],
  ])('%s', (_name, machine, order, expected) => {
    expect(deletePriority(machine, order, now)).toBeCloseTo(expected, 9);
  });
});

describe('which machines a MachineSet deletes', () => {
  const healthy = [m('c'), m('a'), m('b')];
  it.each<[string, DeletionCandidate[], number, DeletionOrder, string[]]>([
    ['Random is by name among healthy machines', healthy, 1, 'Random', ['a']],
    ['Random, two', healthy, 2, 'Random', ['a', 'b']],
    [
      'annotated machine first, whatever its name',
      [...healthy, m('z', { annotations: { 'cluster.x-k8s.io/delete-machine': '' } })],
      1,
      'Random',
      ['z'],
    ],
    [
      'deleting first, then annotated',
      [
        m('y', { annotations: { 'cluster.x-k8s.io/delete-machine': '' } }),
        m('z', { deletionTimestamp: daysAgo(0) }),
        ...healthy,
      ],
      2,
      'Random',
      ['z', 'y'],
    ],
    ['unhealthy before healthy', [...healthy, m('x', { nodeRef: undefined })], 1, 'Random', ['x']],
    [
      'Oldest picks the oldest',
      [
        m('a', { creationTimestamp: daysAgo(1) }),
        m('b', { creationTimestamp: daysAgo(30) }),
        m('c', { creationTimestamp: daysAgo(5) }),
      ],
      1,
      'Oldest',
      ['b'],
    ],
    [
      'Newest picks the newest',
      [
        m('a', { creationTimestamp: daysAgo(1) }),
        m('b', { creationTimestamp: daysAgo(30) }),
        m('c', { creationTimestamp: daysAgo(5) }),
      ],
      1,
      'Newest',
      ['a'],
    ],
    [
      'Newest: a brand-new machine ties with an unhealthy one, name decides',
      [m('b', { creationTimestamp: now.toISOString() }), m('a', { nodeRef: undefined })],
      1,
      'Newest',
      ['a'],
    ],
    ['nothing to delete', healthy, 0, 'Random', []],
    ['more than there are', healthy, 5, 'Random', ['a', 'b', 'c']],
  ])('%s', (_name, machines, count, order, expected) => {
    expect(machinesToDelete(machines, count, order, now).map((x) => x.name)).toEqual(expected);
  });

  it('already-deleting machines use up the count, so no new deletion starts', () => {
    const picked = machinesToDelete(
      [m('z', { deletionTimestamp: daysAgo(0) }), ...healthy],
      1,
      'Random',
      now,
    );
    expect(picked.map((x) => x.name)).toEqual(['z']);
  });
});
