// One Drainer per workload cluster for the whole service, shared by scale-down and remediation: a node is
// drained once however many callers ask (the Drainer joins concurrent requests), and every eviction of
// every drain passes one token bucket (drain.evictionQps / evictionBurst).
import type Bottleneck from 'bottleneck';
import { EventRecorder } from '../kube/events.ts';
import { createLimiter } from '../kube/limiter.ts';
import type { ControllerEnv } from '../service.ts';
import { Drainer } from './drainer.ts';

export interface Drainers {
  /** The cluster's Drainer; undefined until its pods are synced and its policy API is known. */
  get(cluster: string): Drainer | undefined;
}

const shared = new WeakMap<ControllerEnv, Drainers>();

export function drainers(env: ControllerEnv): Drainers {
  let d = shared.get(env);
  if (!d) {
    d = create(env);
    shared.set(env, d);
  }
  return d;
}

function create(env: ControllerEnv): Drainers {
  const cfg = env.config.drain;
  const limiter: Bottleneck = createLimiter({
    reservoir: cfg.evictionBurst,
    reservoirIncreaseInterval: 100,
    reservoirIncreaseAmount: Math.max(1, cfg.evictionQps / 10),
    reservoirIncreaseMaximum: cfg.evictionBurst,
  });
  const log = env.log.child({ component: 'drain' });
  const byCluster = new Map<string, Drainer>();
  env.onWorkloadDisconnected((cluster) => byCluster.delete(cluster));
  env.onWorkloadConnected((cluster) => byCluster.delete(cluster)); // a reconnect brings new informers
  return {
    get(cluster) {
      const existing = byCluster.get(cluster);
      if (existing) return existing;
      const [namespace, name] = cluster.split('/') as [string, string];
      const conn = env.workload.get({ namespace, name });
      const pods = env.informers.get(`${cluster}/pods`);
      const pdbs = env.informers.get(`${cluster}/pdbs`);
      const version = pdbs ? policyVersionOf(pdbs.path) : undefined;
      if (!conn || !pods?.hasSynced() || !pdbs?.hasSynced() || !version) return undefined;
      const d = new Drainer({
        client: conn.client,
        cluster,
        pods,
        pdbs,
        policyVersion: version,
        limiter,
        perNodeConcurrency: cfg.perNodeConcurrency,
        log,
        metrics: env.metrics,
        events: new EventRecorder(conn.client, {
          onError: (e) => log.debug({ err: e.message }, 'event not recorded'),
        }),
      });
      byCluster.set(cluster, d);
      return d;
    },
  };
}

function policyVersionOf(path: string): 'v1' | 'v1beta1' | undefined {
  const m = /^\/apis\/policy\/(v1|v1beta1)\//.exec(path);
  return m ? (m[1] as 'v1' | 'v1beta1') : undefined;
}
