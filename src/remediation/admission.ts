// Storm protection in the shell: builds storm.ts's admission input from the caches (remediations in
// flight from the requests' recorded phase, recent starts from their recorded start times plus this
// process's, the cluster's unhealthy fraction from the Machines' HealthCheckSucceeded) and keeps the
// per-cluster storm state. Only first attempts are gated; see the request controller.
import { findCondition } from '../capi/conditions.ts';
import type { Machine } from '../capi/types.ts';
import type { Informer, KubeObject } from '../kube/informer.ts';
import type { GroupRef } from '../machines/snapshot.ts';
import type { Logger } from '../runtime/log.ts';
import type { ControllerEnv } from '../service.ts';
import type { RemediationReporter } from './report.ts';
import { readRequest } from './request.ts';
import { admit, stormState, type Admission, type StormState } from './storm.ts';
import { v1beta2Conditions } from './types.ts';

export interface AdmissionDeps {
  requests: Informer<KubeObject>;
  machines: Informer<KubeObject>;
  machineOf: (key: string) => Machine | undefined;
  groupOf: (m: Machine) => GroupRef | undefined;
  reporter: RemediationReporter;
  log: Logger;
}

export function createAdmission(env: ControllerEnv, d: AdmissionDeps) {
  const cfg = env.config.remediation;
  const { requests, machines, machineOf, groupOf, reporter, log } = d;
  /** Attempt starts of this process (the requests record only their current attempt). */
  const starts: number[] = [];
  const storms = new Map<string, StormState>();
  /**
   * Admitted starts whose Running status the cache may not show yet: two workers (or two reconciles in a
   * row) must not both see room for one. Released when the request ends, or its start write failed.
   */
  const reserved = new Map<string, { cluster: string; group?: string }>();

  /**
   * The group a limit counts in: the MachineDeployment or MachineSet, else the controlling owner (a
   * control plane: rebooting all of its Machines at once would lose etcd's quorum).
   */
  const groupKeyOf = (m: Machine): string | undefined => {
    const g = groupOf(m);
    if (g) return `${g.kind}/${g.name}`;
    const owner = m.meta.ownerReferences.find((o) => o.controller);
    return owner ? `${owner.kind}/${owner.name}` : undefined;
  };

  /** Admission of one more start in the Machine's cluster and group (storm protection). */
  function admitStart(key: string, m: Machine, at: number): Admission {
    const cluster = `${m.meta.namespace}/${m.clusterName}`;
    const group = groupKeyOf(m);
    const all = requests.list().map(readRequest);
    const running = new Map<string, { cluster: string; group?: string }>(reserved);
    for (const q of all) {
      const k = `${q.namespace}/${q.name}`;
      if (q.status.phase !== 'Running' || q.deleting || running.has(k)) continue;
      const qm = machineOf(k);
      if (!qm) continue;
      const g = groupKeyOf(qm);
      running.set(k, { cluster: `${qm.meta.namespace}/${qm.clusterName}`, ...(g ? { group: g } : {}) });
    }
    running.delete(key);
    const inFlightList = [...running.values()];
    const recorded = all.flatMap((q) =>
      q.status.attemptStartedAt === undefined ? [] : [q.status.attemptStartedAt],
    );
    const recentStarts = [...new Set([...recorded, ...starts])];
    const inCluster = machines
      .list()
      .filter(
        (o) =>
          o.metadata.namespace === m.meta.namespace &&
          o.metadata.labels?.['cluster.x-k8s.io/cluster-name'] === m.clusterName,
      )
      .map((o) => machineOf(`${o.metadata.namespace}/${o.metadata.name}`))
      .filter((x): x is Machine => x !== undefined && !x.meta.deletionTimestamp);
    const unhealthy = inCluster.filter(
      (x) => findCondition(v1beta2Conditions(x), 'HealthCheckSucceeded')?.status === 'False',
    ).length;
    const fraction =
      unhealthy >= cfg.stormMinUnhealthy && inCluster.length > 0 ? unhealthy / inCluster.length : 0;
    const prev = storms.get(cluster) ?? { inStorm: false };
    const st = stormState(prev, fraction, cfg.stormThreshold, at);
    if (st !== prev) {
      storms.set(cluster, st);
      log.warn(
        { cluster, unhealthy, machines: inCluster.length, storm: st.inStorm },
        'remediation storm state',
      );
    }
    reporter.storm(cluster, st.inStorm);
    const a = admit({
      cluster,
      ...(group ? { group } : {}),
      inFlight: inFlightList,
      limits: { maxPerCluster: cfg.maxConcurrent, maxPerGroup: cfg.maxConcurrentPerGroup },
      recentStarts,
      rate: { max: cfg.maxStarts, perMs: cfg.startsWindow },
      storm: {
        unhealthyFraction: fraction,
        threshold: cfg.stormThreshold,
        cooldownMs: cfg.stormCooldown,
        ...(st.endedAt !== undefined ? { lastStormEndedAt: st.endedAt } : {}),
      },
      now: at,
    });
    if (a.allowed) reserved.set(key, { cluster, ...(group ? { group } : {}) });
    return a;
  }

  return {
    admit: admitStart,
    release: (key: string): void => void reserved.delete(key),
    started: (at: number): void => {
      // Whole seconds, as the requests record it: the same start read back must not count twice.
      starts.push(Math.floor(at / 1000) * 1000);
      // Only the window matters: older starts go.
      const cut = at - cfg.startsWindow;
      while (starts.length > 0 && starts[0]! <= cut) starts.shift();
    },
  };
}
