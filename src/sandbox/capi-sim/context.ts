// Shared state of one simulator run: the API clients, watch caches, the work queue and options.
// Everything here is rebuilt from the API objects on start, so a restart loses nothing.
import { CAPI_GROUP, type CapiVersion } from '../../capi/types.ts';
import type { RestClient } from '../rest.ts';
import type { Informer, KubeObject } from '../../kube/informer.ts';
import type { HollowKubelet, NodeObject, PodObject } from './hollow-kubelet.ts';
import type { WorkQueue } from '../../runtime/queue.ts';
import type { LaggedCache } from './lagged-cache.ts';

export const INFRA_GROUP = 'infrastructure.sandbox.capi-autopilot.io';
export const INFRA_VERSION = 'v1alpha1';
export const INFRA_API_VERSION = `${INFRA_GROUP}/${INFRA_VERSION}`;

/** Faults are annotations on the API objects, so they survive a simulator restart and work from kubectl. */
export const FAULTS = {
  /** Machine: provisioning never finishes (no providerID). */
  stallProvisioning: 'sandbox.capi-autopilot.io/fault-stall-provisioning',
  /** Machine: the infrastructure comes up but no Node ever joins. */
  neverJoin: 'sandbox.capi-autopilot.io/fault-never-join',
  /** Node: the hollow kubelet stops renewing the Lease (the real node lifecycle controller marks it Unknown). */
  stopHeartbeats: 'sandbox.capi-autopilot.io/fault-stop-heartbeats',
  /**
   * Machine or Node: a reboot through the infrastructure reboot hook (src/remediation/contract.ts) is
   * answered, but the Node stays as it was (stopped heartbeats stay stopped, conditions unchanged).
   */
  rebootDoesNotHelp: 'sandbox.capi-autopilot.io/fault-reboot-does-not-help',
  /** Pod: extra seconds before the hollow kubelet finishes terminating it; "never" never does. */
  terminationDelay: 'sandbox.capi-autopilot.io/fault-termination-delay-seconds',
} as const;

export interface SimOptions {
  /** Names this simulator's nodes (label value of sandbox.capi-autopilot.io/hollow), so several can share a cluster. */
  name: string;
  /** Time from infrastructure machine creation to a provisioned instance. */
  provisioningDelayMs: number;
  /** Time from a provisioned instance to its Node joining. */
  joinDelayMs: number;
  /** Time from a reboot request on a SandboxMachine to the restarted instance and the provider's answer. */
  rebootDelayMs: number;
  podTerminationScale: number;
  heartbeatMs: number;
  leaseDurationSeconds: number;
  heartbeatConcurrency: number;
  workers: number;
  log: (msg: string) => void;
  now: () => Date;
}

export interface InfraMachine extends KubeObject {
  spec: { providerID?: string; instanceType?: Record<string, unknown>; failureDomain?: string };
  status?: { ready?: boolean; initialization?: { provisioned?: boolean } };
  metadata: KubeObject['metadata'] & { creationTimestamp?: string };
}

export interface InfraTemplate extends KubeObject {
  spec: { template: { metadata?: { labels?: Record<string, string> }; spec: Record<string, unknown> } };
}

export interface Caches {
  clusters: Informer<KubeObject>;
  machineDeployments: Informer<KubeObject>;
  machineSets: Informer<KubeObject>;
  /** Every controller's view of Machines; it can be made to trail the watch (fault injection). */
  machines: LaggedCache<KubeObject>;
  infraTemplates: Informer<InfraTemplate>;
  infraMachines: Informer<InfraMachine>;
  nodes: Informer<NodeObject>;
  pods: Informer<PodObject>;
}

export interface SimContext {
  mgmt: RestClient;
  workload: RestClient;
  version: CapiVersion;
  caches: Caches;
  queue: WorkQueue;
  kubelet: HollowKubelet;
  opts: SimOptions;
  /** Machines a MachineSet created or deleted that its cache has not shown yet (CAPI's expectations). */
  expectations: Map<string, { create: Set<string>; del: Set<string>; since: number }>;
}

export function capiPath(version: CapiVersion, resource: string, namespace?: string, name?: string): string {
  let p = `/apis/${CAPI_GROUP}/${version}`;
  if (namespace) p += `/namespaces/${namespace}`;
  p += `/${resource}`;
  if (name) p += `/${name}`;
  return p;
}

export function infraPath(resource: string, namespace?: string, name?: string): string {
  let p = `/apis/${INFRA_API_VERSION}`;
  if (namespace) p += `/namespaces/${namespace}`;
  p += `/${resource}`;
  if (name) p += `/${name}`;
  return p;
}

export const nsKey = (ns: string, name: string): string => `${ns}/${name}`;

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export function controllerOwner(o: KubeObject, kind: string): string | undefined {
  return o.metadata.ownerReferences?.find((r) => r.controller && r.kind === kind)?.name;
}

/**
 * Whether controllers may act on objects of a Cluster: not when it is paused (spec.paused or the paused
 * annotation on the object), and not before the Cluster is in the cache (CAPI errors and requeues when
 * it cannot get the Cluster; acting then could run ahead of a pause set at creation).
 */
export function clusterGate(
  ctx: SimContext,
  namespace: string,
  clusterName: string,
  objectAnnotations: Readonly<Record<string, string>>,
): 'act' | 'paused' | 'wait' {
  if (PAUSED_ANNOTATION in objectAnnotations) return 'paused';
  const c = ctx.caches.clusters.get(nsKey(namespace, clusterName));
  if (!c) return 'wait';
  if (PAUSED_ANNOTATION in (c.metadata.annotations ?? {})) return 'paused';
  return (c as { spec?: { paused?: boolean } }).spec?.paused === true ? 'paused' : 'act';
}

const PAUSED_ANNOTATION = 'cluster.x-k8s.io/paused';
export const CLUSTER_WAIT_MS = 1000;
