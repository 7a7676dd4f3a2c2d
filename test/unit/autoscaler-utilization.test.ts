// Node utilization as scale-down reads it (cluster-autoscaler's utilization.Calculate, DaemonSet and
// mirror pods ignored), from pods classified by the drain filters.
import { describe, expect, it } from 'vitest';
import { formatShare, nodeUtilization } from '../../src/autoscaler/utilization.ts';
import {
  blocking,
  daemon,
  evict,
  finished,
  GI,
  GPU,
  longTerminating,
  mirror,
  simNode,
} from './fixtures/scale-down.ts';

describe('nodeUtilization', () => {
  it('is the larger of cpu and memory requests over allocatable; a tie reads as memory', () => {
    const u = nodeUtilization(simNode('n', 4, 8), [evict(1, 4), evict(1, 0)]);
    expect(u).toEqual({ value: 0.5, resource: 'memory', cpu: 0.5, memory: 0.5 });
    expect(nodeUtilization(simNode('n', 4, 8), [evict(3, 1)])).toMatchObject({
      value: 0.75,
      resource: 'cpu',
    });
  });

  it('leaves DaemonSet and mirror pods out of requests and takes them off allocatable', () => {
    const u = nodeUtilization(simNode('n', 4, 8), [daemon(1, 2), mirror(1, 2), evict(1, 1)]);
    expect(u.cpu).toBe(0.5); // 1 / (4 − 2)
    expect(u.memory).toBe(0.25); // 1 / (8 − 4)
  });

  it('ignores skipped (long-terminating) and terminal pods, and counts blocking ones', () => {
    const node = simNode('n', 4, 8);
    expect(nodeUtilization(node, [longTerminating(3), finished(3)]).value).toBe(0);
    expect(nodeUtilization(node, [blocking(2, 'x')]).cpu).toBe(0.5);
  });

  it('on a GPU node only the GPU share counts, as upstream', () => {
    const node = simNode('g', 8, 32, { gpu: 2 });
    const gpuPod = evict(7, 30, { requests: { cpu: 7000, memory: 30 * GI, [GPU]: 1000 } });
    expect(nodeUtilization(node, [gpuPod])).toMatchObject({ value: 0.5, resource: GPU, gpu: 0.5 });
    expect(nodeUtilization(node, [evict(7, 30)])).toMatchObject({ value: 0, resource: GPU });
  });

  it('requests beyond what DaemonSet pods leave read as fully used, never as idle', () => {
    const u = nodeUtilization(simNode('n', 1, 8), [daemon(1, 1), evict(0.1, 0.1)]);
    expect(u).toMatchObject({ value: Infinity, resource: 'cpu' });
    expect(formatShare('cpu', Infinity)).toMatch(/exceed allocatable/);
    expect(nodeUtilization(simNode('n', 0, 0), []).value).toBe(0);
  });
});
