// The autoscaler's reads and its one write, kept apart from the decision flow: the scale-up patch, the
// infrastructure templates of groups at zero, and the priority expander's ConfigMap. Each read failure is
// confined to what it concerns (one template, the priorities), never the whole decision.
import { kindPath } from '../kube/apipath.ts';
import { discoverGroup } from '../kube/discovery.ts';
import { kubeTime } from '../kube/time.ts';
import type { ControllerEnv } from '../service.ts';
import { isConflict } from '../kube/errors.ts';
import { formatLedger, LEDGER_ANNOTATION, ledgerOf, scaleUpLedger } from '../machines/records.ts';
import { groupPath } from '../machines/snapshot.ts';
import { actionAnnotations } from '../tracing/spans.ts';
import { parsePriorities, type Priorities } from './expander.ts';
import { discoverNodeGroups, type NodeGroupsResult } from './nodegroups.ts';
import type { NodeGroup } from './nodegroups.ts';

export const PRIORITY_CONFIGMAP = 'cluster-autoscaler-priority-expander';

type Log = { warn(o: object, m: string): void };

/**
 * One write: spec.replicas, the delete protocol's ledger (a foreign write since its baseline is recorded
 * first, then the new baseline) and the trace context, under the resourceVersion the decision was made
 * on (the informer's copy): if anything changed since, it is a 409 and the decision is made again.
 * The scale subresource cannot carry annotations, hence the object itself.
 */
export async function scaleUp(env: ControllerEnv, g: NodeGroup, to: number): Promise<'ok' | 'conflict'> {
  const cur = g.object;
  const { ledger } = ledgerOf(cur.meta.annotations);
  const at = kubeTime(new Date());
  try {
    await env.management.mergePatch(
      groupPath(env.capiVersion, { kind: g.kind, namespace: g.namespace, name: g.name }),
      {
        metadata: {
          annotations: {
            ...(ledger
              ? { [LEDGER_ANNOTATION]: formatLedger(scaleUpLedger(ledger, cur.replicas ?? 0, to, at)) }
              : {}),
            ...actionAnnotations(new Date()),
          },
        },
        spec: { replicas: to },
      },
      cur.meta.resourceVersion,
    );
    return 'ok';
  } catch (e) {
    if (isConflict(e)) return 'conflict';
    throw e;
  }
}

interface InfraRef {
  apiGroup: string;
  kind: string;
  name: string;
  apiVersion?: string;
}

/**
 * Infrastructure templates read within the last TEMPLATE_TTL_MS. Templates are replaced rather than edited
 * (CAPI's convention), and a provider's `status.capacity` changes rarely; without it a fleet of 200 groups
 * would cost 200 GETs per decision.
 */
export class TemplateCache {
  readonly #entries = new Map<string, { at: number; obj: unknown }>();
  get(key: string, now: number): { obj: unknown } | undefined {
    const e = this.#entries.get(key);
    return e && now - e.at < TEMPLATE_TTL_MS ? e : undefined;
  }
  set(key: string, obj: unknown, now: number): void {
    this.#entries.set(key, { at: now, obj });
    // CAPI makes a new template for every change: expired ones go, or the cache only grows.
    if (this.#entries.size > 256)
      for (const [k, e] of this.#entries) if (now - e.at >= TEMPLATE_TTL_MS) this.#entries.delete(k);
  }
}

const TEMPLATE_TTL_MS = 60_000;

/** Infrastructure templates of the groups, keyed `<namespace>/<kind>/<name>`; one that cannot be read is left out. */
export async function fetchTemplates(
  env: ControllerEnv,
  groups: ReadonlyArray<{ namespace: string; template: { infrastructureRef: InfraRef } }>,
  log: Log,
  cache?: TemplateCache,
): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for (const g of groups) {
    const ref = g.template.infrastructureRef;
    // Always the group's namespace: a reference never reaches into another one.
    const key = `${g.namespace}/${ref.kind}/${ref.name}`;
    if (out.has(key)) continue;
    const cached = cache?.get(key, Date.now());
    if (cached) {
      out.set(key, cached.obj);
      continue;
    }
    try {
      const version = ref.apiVersion ?? (await preferredVersion(env, ref.apiGroup));
      if (!version) continue;
      const obj = await env.management.getOrNull(kindPath(version, g.namespace, ref.kind, ref.name));
      // Only templates found are kept: a missing one may be created any moment, an error is retried.
      if (obj) {
        cache?.set(key, obj, Date.now());
        out.set(key, obj);
      }
    } catch (e) {
      log.warn({ template: key, err: (e as Error).message }, 'infrastructure template unreadable');
    }
  }
  return out;
}

async function preferredVersion(env: ControllerEnv, group: string): Promise<string | undefined> {
  const { preferred } = await discoverGroup(env.management, group);
  return preferred && `${group}/${preferred}`;
}

/** The priority expander's ConfigMap, read each decision (small, edited by hand); unreadable: none. */
export async function readPriorities(env: ControllerEnv, log: Log): Promise<Priorities | undefined> {
  const ns = env.config.autoscaler.priorityExpanderNamespace;
  try {
    const cm = await env.management.getOrNull<{ data?: Record<string, string> }>(
      `/api/v1/namespaces/${ns}/configmaps/${PRIORITY_CONFIGMAP}`,
    );
    if (!cm) return undefined;
    const raw = cm.data?.['priorities'];
    // A ConfigMap without the key is a mistake (a typo such as `priority:`), not "no priorities".
    if (raw === undefined) throw new Error('it has no `priorities` key');
    return parsePriorities(raw);
  } catch (e) {
    log.warn(
      { configMap: `${ns}/${PRIORITY_CONFIGMAP}`, err: (e as Error).message },
      'priority expander ConfigMap unreadable: every group ranks the same',
    );
    return undefined;
  }
}

/** The node groups (and ignored objects) of every Cluster, from the management caches. */
export function discoverFromCaches(env: ControllerEnv): NodeGroupsResult {
  const mgmt = (r: string) => env.informers.get(`management/${r}`)!.list();
  return discoverNodeGroups({
    clusters: mgmt('clusters'),
    machineDeployments: mgmt('machinedeployments'),
    machineSets: mgmt('machinesets'),
    discovery: env.config.discovery,
    defaults: env.config.autoscaler,
  });
}
