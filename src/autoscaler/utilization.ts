// Node utilization as scale-down reads it: cluster-autoscaler's utilization.Calculate with
// --ignore-daemonsets-utilization and mirror pods ignored. Per resource, the requests of the node's
// workload pods over allocatable net of its DaemonSet and mirror pods; the node's utilization is the larger
// of cpu and memory, or, on a node with GPUs, the GPU share alone. Pure; amounts are milli-units.
import type { PodAction } from '../drain/filters.ts';
import { DEFAULT_GPU_TYPE } from './template.ts';
import type { SimNode, SimPod } from './types.ts';

/** A pod on a node with its scale-down drain classification (src/drain/filters.ts SCALE_DOWN_POLICY). */
export interface ClassifiedPod {
  pod: SimPod;
  action: PodAction;
  /** The classification's detail: why it is skipped, deleted, evicted or blocks. */
  detail: string;
  /** Owned by a DaemonSet (existing or not) or annotated cluster-autoscaler.kubernetes.io/daemonset-pod. */
  daemonSet: boolean;
  /** Mirror of a static pod (kubernetes.io/config.mirror). */
  mirror: boolean;
}

export interface NodeUtilization {
  /** The deciding share: max(cpu, memory), or the GPU share on a GPU node. */
  value: number;
  /** Which resource decided: `cpu`, `memory` (on a tie, as upstream) or `nvidia.com/gpu`. */
  resource: string;
  cpu: number;
  memory: number;
  /** Only on GPU nodes. */
  gpu?: number;
}

/**
 * How a pod weighs on utilization:
 * - `daemon`: DaemonSet and mirror pods, their requests taken off allocatable (upstream subtracts them
 *   whatever their phase; a terminal one, action `delete`, is not there at all: upstream lists no
 *   Succeeded/Failed pods);
 * - `workload`: every other pod the drain must evict or that blocks it (`evict`, `block`);
 * - `none`: `skip` (long-terminating pods, which upstream ignores too) and `delete` (with SCALE_DOWN_POLICY
 *   only terminal pods are deleted, and they hold nothing).
 */
export function weight(p: ClassifiedPod): 'daemon' | 'workload' | 'none' {
  if (p.action === 'delete') return 'none';
  if (p.daemonSet || p.mirror) return 'daemon';
  return p.action === 'skip' ? 'none' : 'workload';
}

/**
 * One resource's share. Allocatable net of DaemonSet/mirror pods at or below 0 (or missing) reads as 0 when
 * nothing else asks for the resource and as fully used (Infinity) when something does: upstream divides
 * anyway (NaN or ±Inf) or fails, and neither should make a node look idle.
 */
function share(requested: number, allocatable: number, daemon: number): number {
  const room = allocatable - daemon;
  if (room > 0) return requested / room;
  return requested > 0 ? Infinity : 0;
}

export function nodeUtilization(node: SimNode, pods: readonly ClassifiedPod[]): NodeUtilization {
  const alloc = node.allocatable;
  const gpuAlloc = alloc[DEFAULT_GPU_TYPE] ?? 0;
  let cpu = 0;
  let mem = 0;
  let gpu = 0;
  let dsCpu = 0;
  let dsMem = 0;
  let dsGpu = 0;
  for (const p of pods) {
    const w = weight(p);
    if (w === 'none') continue;
    const r = p.pod.requests;
    if (w === 'daemon') {
      dsCpu += r.cpu ?? 0;
      dsMem += r.memory ?? 0;
      if (gpuAlloc > 0) dsGpu += r[DEFAULT_GPU_TYPE] ?? 0;
    } else {
      cpu += r.cpu ?? 0;
      mem += r.memory ?? 0;
      if (gpuAlloc > 0) gpu += r[DEFAULT_GPU_TYPE] ?? 0;
    }
  }
  const c = share(cpu, alloc.cpu ?? 0, dsCpu);
  const m = share(mem, alloc.memory ?? 0, dsMem);
  if (gpuAlloc > 0) {
    // Upstream skips cpu and memory on a GPU node: an idle GPU is what makes it worth removing.
    const g = share(gpu, gpuAlloc, dsGpu);
    return { value: g, resource: DEFAULT_GPU_TYPE, cpu: c, memory: m, gpu: g };
  }
  return c > m
    ? { value: c, resource: 'cpu', cpu: c, memory: m }
    : { value: m, resource: 'memory', cpu: c, memory: m };
}

/** "0.72", or a sentence when requests exceed what DaemonSet and mirror pods leave. */
export function formatShare(resource: string, value: number): string {
  if (value === Infinity) return `${resource} requests exceed allocatable net of DaemonSet and mirror pods`;
  return `${resource} utilization ${(Math.round(value * 100) / 100).toFixed(2)}`;
}
