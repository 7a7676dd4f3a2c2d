// What remediation is doing, for /status and the metrics: one entry per request (its phase, the current
// action and attempt, why, and what comes next) and one per MachineHealthCheck (unhealthy Machines with
// their reason, whether it is short-circuited). Entries go when their object goes.
import type { Metrics } from '../metrics/registry.ts';

export interface RequestReport {
  phase: string;
  action?: string;
  attempt?: number;
  reason: string;
  message: string;
  /** The next step, in words. */
  next?: string;
  lastFailure?: string;
}

export interface UnhealthyMachine {
  machine: string;
  node?: string;
  reason: string;
  message: string;
  /** What happens next: a request, waiting for the short-circuit, the owner. */
  next: string;
}

export interface HealthCheckReport {
  cluster: string;
  expectedMachines: number;
  currentHealthy: number;
  remediationAllowed: boolean;
  reason: string;
  message: string;
  unhealthy: UnhealthyMachine[];
  /** ISO time of the next evaluation a running timeout needs. */
  nextCheckAt?: string;
}

export class RemediationReporter {
  private readonly requests = new Map<string, RequestReport>();
  private readonly checks = new Map<string, HealthCheckReport>();
  private readonly failures = new Map<string, { at: string; message: string }>();
  private readonly metrics: Metrics;

  constructor(metrics: Metrics) {
    this.metrics = metrics;
  }

  set(key: string, r: RequestReport): void {
    this.requests.set(key, r);
  }

  forget(key: string): void {
    this.requests.delete(key);
    this.failures.delete(key);
  }

  failure(key: string, message: string): void {
    this.failures.set(key, { at: new Date().toISOString(), message });
  }

  action(cluster: string, phase: string, result: string): void {
    this.metrics.remediations.inc({ cluster, phase, result });
  }

  deferred(cluster: string, reason: string): void {
    this.metrics.remediationsDeferred.inc({ cluster, reason });
  }

  storm(cluster: string, inStorm: boolean): void {
    this.metrics.remediationStorm.set({ cluster }, inStorm ? 1 : 0);
  }

  healthCheck(key: string, r: HealthCheckReport): void {
    this.checks.set(key, r);
    const labels = { cluster: r.cluster, machine_health_check: key };
    this.metrics.unhealthyMachines.set(labels, r.unhealthy.length);
    this.metrics.healthCheckShortCircuited.set(labels, r.remediationAllowed ? 0 : 1);
  }

  forgetHealthCheck(key: string): void {
    const r = this.checks.get(key);
    if (!r) return;
    this.checks.delete(key);
    const labels = { cluster: r.cluster, machine_health_check: key };
    this.metrics.unhealthyMachines.remove(labels);
    this.metrics.healthCheckShortCircuited.remove(labels);
  }

  all(): {
    requests: Record<string, RequestReport & { lastActionFailure?: unknown }>;
    healthChecks: Record<string, HealthCheckReport>;
  } {
    const requests: Record<string, RequestReport & { lastActionFailure?: unknown }> = {};
    for (const [k, v] of [...this.requests].sort(([a], [b]) => a.localeCompare(b))) {
      const f = this.failures.get(k);
      requests[k] = f ? { ...v, lastActionFailure: f } : v;
    }
    return {
      requests,
      healthChecks: Object.fromEntries([...this.checks].sort(([a], [b]) => a.localeCompare(b))),
    };
  }
}
