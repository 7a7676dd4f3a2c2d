// `capi-autopilot explain`: what the autoscaler would do now and why, printed, with no write. It starts
// the service's caches (management and workload informers) in dry-run mode without HTTP, asks the
// autoscaler for a fresh decision per workload cluster, prints it and stops.
import { createAutoscaler, type Autoscaler } from './autoscaler/controller.ts';
import type { Decision } from './autoscaler/decision.ts';
import { explainLines, groupMatches, type ExplainFilter } from './autoscaler/explain.ts';
import { whyNotPlanned } from './autoscaler/inputs.ts';
import { createScaleDown, type ScaleDown } from './autoscaler/scaledown-controller.ts';
import { scaleDownLines } from './autoscaler/scaledown-explain.ts';
import type { Config } from './config/schema.ts';
import type { Logger } from './runtime/log.ts';
import type { Io } from './sandbox/commands.ts';
import { startService, type Service } from './service.ts';

export interface ExplainOptions extends ExplainFilter {
  config: Config;
  log: Logger;
  managementKubeconfig?: string;
  /** A node of a workload cluster: only its scale-down status. */
  node?: string;
  /** `namespace/name` of one CAPI Cluster; default every Cluster. */
  cluster?: string;
  json: boolean;
  /** How long to wait for caches and workload connections. */
  timeoutMs: number;
}

export async function explain(io: Io, o: ExplainOptions): Promise<number> {
  let autoscaler: Autoscaler | undefined;
  let scaleDown: ScaleDown | undefined;
  const service = await startService({
    config: o.config,
    log: o.log,
    managementKubeconfig: o.managementKubeconfig,
    dryRun: true,
    serve: false,
    ...(o.cluster ? { clusters: [o.cluster] } : {}),
    controllers: (env) => {
      autoscaler = createAutoscaler(env, { dryRun: true });
      scaleDown = createScaleDown(env, { dryRun: true });
      return [];
    },
  });
  try {
    const deadline = Date.now() + o.timeoutMs;
    await until(
      () => service.readiness().ready,
      deadline,
      () => service.readiness().reasons.join('; '),
    );
    await Promise.race([
      service.workload.settled(),
      new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref()),
    ]);
    const clusters = clustersToExplain(service, o);
    if (clusters.length === 0) {
      io.err(o.cluster ? `no Cluster ${o.cluster}` : 'no CAPI Cluster in the management cluster');
      return 1;
    }
    const decisions: Array<Decision & { scaleDown?: unknown }> = [];
    const skipped: string[] = [];
    let shown = 0;
    for (const cluster of clusters) {
      const ready = await until(
        () => synced(service, cluster) || waitingReason(service, cluster) !== undefined,
        deadline,
      );
      const d = ready ? await autoscaler!.explain(cluster) : undefined;
      if (!d) {
        // On stderr: stdout stays the explanation (and valid JSON with --json).
        const why = waitingReason(service, cluster) ?? 'workload cluster caches not synced in time';
        skipped.push(`${cluster} (${why})`);
        io.err(`Cluster ${cluster}: not looked at: ${why}`);
        continue;
      }
      const pod = o.pod ? service.informers.get(`${cluster}/pods`)?.get(o.pod) : undefined;
      const node = o.node ? service.informers.get(`${cluster}/nodes`)?.get(o.node) : undefined;
      // Narrowed views print only the clusters where the pod, node or group is.
      if (o.pod && !pod) continue;
      if (o.node && !node) continue;
      if (o.group && !o.pod && !hasGroup(d, o.group)) continue;
      const sd = scaleDown!.explain(cluster);
      shown++;
      decisions.push({ ...d, ...(sd ? { scaleDown: sd } : {}) });
      if (o.json) continue;
      if (o.node) {
        io.out(`Cluster ${d.cluster}: scale-down at ${d.at} (no writes)`);
        for (const l of sd ? scaleDownLines(sd, { node: o.node }) : ['  scale-down caches not synced'])
          io.out(l);
        continue;
      }
      const notPlanned = pod
        ? whyNotPlanned(pod, new Date(), o.config.autoscaler.newPodScaleUpDelay)
        : undefined;
      for (const l of explainLines(d, o, notPlanned)) io.out(l);
      if (!o.pod && sd) for (const l of scaleDownLines(sd, o.group ? { group: o.group } : {})) io.out(l);
    }
    if (o.json) io.out(JSON.stringify(decisions, null, 2));
    if (shown === 0 && (o.pod || o.group || o.node)) {
      const where = skipped.length ? ` looked at (not looked at: ${skipped.join(', ')})` : '';
      io.err(
        o.pod
          ? `pod ${o.pod} not found in any workload cluster${where}`
          : o.node
            ? `node ${o.node} not found in any workload cluster${where}`
            : `no node group ${o.group!} in any workload cluster${where}`,
      );
      return 1;
    }
    // Some cluster could not be looked at: the answer is incomplete, and scripts should know.
    return skipped.length ? 1 : 0;
  } finally {
    await service.stop();
  }
}

function clustersToExplain(service: Service, o: ExplainOptions): string[] {
  const all = (service.informers.get('management/clusters')?.list() ?? []).map(
    (c) => `${c.metadata.namespace}/${c.metadata.name}`,
  );
  if (o.cluster) return all.filter((c) => c === o.cluster);
  // A group lives in its Cluster's namespace.
  if (o.group) {
    const ns = o.group.split('/').at(-2);
    return all.filter((c) => c.split('/')[0] === ns);
  }
  return all.sort();
}

function hasGroup(d: Decision, wanted: string): boolean {
  return (
    d.groups.some((g) => groupMatches(g.id, wanted)) || d.ignored.some((i) => groupMatches(i.key, wanted))
  );
}

const synced = (s: Service, cluster: string) =>
  ['nodes', 'pods', 'daemonsets', 'pdbs'].every((r) => s.informers.get(`${cluster}/${r}`)?.hasSynced());

const waitingReason = (s: Service, cluster: string) =>
  s.workload.waiting().find((w) => w.cluster === cluster)?.reason;

/** Polls `ok` until true or the deadline; false at the deadline, or throws when `why` explains it. */
async function until(ok: () => boolean, deadline: number, why?: () => string): Promise<boolean> {
  while (!ok()) {
    if (Date.now() > deadline) {
      if (why) throw new Error(`gave up waiting: ${why()}`);
      return false;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}
