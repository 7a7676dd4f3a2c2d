// Admission of new remediations (storm protection), pure: whether one more remediation may start now.
// It only gates starts; remediations already running go on (medik8s: pause requests and storm recovery
// block new remediations, never ongoing ones). Checks run in this order and the first refusal wins:
//  1. Storm          the cluster's unhealthy fraction is at or above the threshold: many Machines failing
//                    at once points at a shared cause (network, control plane), not at the Machines
//  2. StormCooldown  for cooldownMs after a storm ended, so a flapping cluster does not trigger a burst
//  3. MaxPerCluster  remediations in flight in this cluster
//  4. MaxPerGroup    remediations in flight in this cluster's group (MachineDeployment/MachineSet)
//  5. RateLimited    starts in a sliding window, over all clusters
// The time-based refusals carry retryAt (the first instant the check passes); the count-based ones wait
// for a remediation to finish, which the caller observes. Unreadable inputs refuse (InvalidInput): a
// limit we cannot read must not let a storm through.
import { formatTimeout } from './escalation.ts';

/** Refusal codes, safe as metric labels and event reasons. */
export const ADMISSION_CODES = [
  'Storm',
  'StormCooldown',
  'MaxPerCluster',
  'MaxPerGroup',
  'RateLimited',
  'InvalidInput',
] as const;
export type AdmissionCode = (typeof ADMISSION_CODES)[number];

export interface AdmitInput {
  cluster: string;
  /** The Machine's group; a Machine without one (e.g. a bare Machine) has no group limit. */
  group?: string;
  /** Remediations in flight, any cluster; groups are scoped by cluster. */
  inFlight: ReadonlyArray<{ cluster: string; group?: string }>;
  limits: { maxPerCluster?: number; maxPerGroup?: number };
  /** Epoch ms of remediations started, any cluster, any order. */
  recentStarts: readonly number[];
  /** At most `max` starts in any window of `perMs`. */
  rate?: { max: number; perMs: number };
  storm?: {
    /** Unhealthy Machines / Machines, in this cluster, in [0, 1]. */
    unhealthyFraction: number;
    /** In (0, 1]: a storm is fraction >= threshold. */
    threshold: number;
    cooldownMs: number;
    /** From stormState. */
    lastStormEndedAt?: number;
  };
  now: number;
}

export type Admission =
  { allowed: true } | { allowed: false; code: AdmissionCode; message: string; retryAt?: number };

export interface StormState {
  inStorm: boolean;
  /** When the last storm ended (epoch ms); dropped when a new one starts. */
  endedAt?: number;
}

const percent = (f: number): string => `${Number((f * 100).toFixed(1))}%`;
const iso = (ms: number): string => new Date(ms).toISOString();
const plural = (n: number): string => `${n} remediation${n === 1 ? '' : 's'}`;
const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

/** The first unreadable input, named as the caller's field. */
function inputProblem(x: AdmitInput): string | undefined {
  const { limits, rate, storm } = x;
  if (!Number.isFinite(x.now)) return `now must be a time, got ${x.now}`;
  for (const k of ['maxPerCluster', 'maxPerGroup'] as const) {
    const v = limits[k];
    if (v !== undefined && !isCount(v)) return `limits.${k} must be an integer >= 0, got ${v}`;
  }
  if (rate) {
    if (!isCount(rate.max)) return `rate.max must be an integer >= 0, got ${rate.max}`;
    if (!Number.isSafeInteger(rate.perMs) || rate.perMs <= 0)
      return `rate.perMs must be a positive integer, got ${rate.perMs}`;
    const badStart = x.recentStarts.find((s) => !Number.isFinite(s));
    if (badStart !== undefined) return `recentStarts holds ${badStart}, not a time`;
  }
  if (storm) {
    const { unhealthyFraction: f, threshold: t, cooldownMs: c, lastStormEndedAt: e } = storm;
    if (!(f >= 0 && f <= 1)) return `storm.unhealthyFraction must be in [0, 1], got ${f}`;
    if (!(t > 0 && t <= 1)) return `storm.threshold must be in (0, 1], got ${t}`;
    if (!(Number.isFinite(c) && c >= 0)) return `storm.cooldownMs must be >= 0, got ${c}`;
    if (e !== undefined && !Number.isFinite(e)) return `storm.lastStormEndedAt must be a time, got ${e}`;
  }
  return undefined;
}

export function admit(x: AdmitInput): Admission {
  const refuse = (code: AdmissionCode, message: string, retryAt?: number): Admission =>
    retryAt === undefined ? { allowed: false, code, message } : { allowed: false, code, message, retryAt };
  const bad = inputProblem(x);
  if (bad) return refuse('InvalidInput', bad);
  const { cluster, group, now, storm, rate } = x;

  if (storm) {
    if (storm.unhealthyFraction >= storm.threshold)
      return refuse(
        'Storm',
        `remediation storm: ${percent(storm.unhealthyFraction)} of the Machines in cluster ${cluster} are unhealthy (threshold ${percent(storm.threshold)}); no new remediation starts`,
      );
    if (storm.lastStormEndedAt !== undefined) {
      const end = storm.lastStormEndedAt + storm.cooldownMs;
      if (now < end)
        return refuse(
          'StormCooldown',
          `cooling down after a remediation storm in cluster ${cluster} until ${iso(end)}`,
          end,
        );
    }
  }

  const max = x.limits.maxPerCluster;
  if (max !== undefined) {
    const n = x.inFlight.filter((r) => r.cluster === cluster).length;
    if (n >= max) return refuse('MaxPerCluster', `${plural(n)} in flight in cluster ${cluster} (max ${max})`);
  }
  const maxG = x.limits.maxPerGroup;
  if (maxG !== undefined && group !== undefined) {
    const n = x.inFlight.filter((r) => r.cluster === cluster && r.group === group).length;
    if (n >= maxG)
      return refuse(
        'MaxPerGroup',
        `${plural(n)} in flight in group ${group} of cluster ${cluster} (max ${maxG})`,
      );
  }

  if (rate) {
    // Window (now - perMs, now]; starts stamped after `now` (clock skew) count too, to stay conservative.
    const inWindow = x.recentStarts.filter((s) => s > now - rate.perMs).sort((a, b) => a - b);
    if (inWindow.length >= rate.max) {
      // The earliest instant at which fewer than max remain: the (n - max + 1)-th oldest has left.
      const pivot = inWindow[inWindow.length - rate.max];
      const retryAt = pivot === undefined ? undefined : pivot + rate.perMs;
      const next = retryAt === undefined ? 'no start is allowed' : `next at ${iso(retryAt)}`;
      return refuse(
        'RateLimited',
        `${plural(inWindow.length)} started in the last ${formatTimeout(rate.perMs)} (max ${rate.max}); ${next}`,
        retryAt,
      );
    }
  }
  return { allowed: true };
}

/**
 * Tracks storms over successive observations: a storm is fraction >= threshold; when it stops being one,
 * `endedAt` = now (the start of the cooldown). Returns `prev` itself when nothing changed, and when the
 * fraction cannot be read (an unreadable observation neither starts nor ends a storm).
 */
export function stormState(prev: StormState, fraction: number, threshold: number, now: number): StormState {
  if (!Number.isFinite(fraction) || !Number.isFinite(threshold)) return prev;
  const storm = fraction >= threshold;
  if (storm) return prev.inStorm && prev.endedAt === undefined ? prev : { inStorm: true };
  return prev.inStorm ? { inStorm: false, endedAt: now } : prev;
}
