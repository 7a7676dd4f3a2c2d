// MachineHealthCheck short-circuiting, pure: whether remediation may start given how many targets are
// not healthy, with CAPI's arithmetic (machinehealthcheck_controller.go isAllowedRemediation,
// getMaxUnhealthy, getUnhealthyRange). A value we cannot parse never allows remediation: CAPI returns an
// error and does nothing in that case, and so do we, with the field named.
import type { MachineHealthCheck } from '../capi/types.ts';

/** Outcome codes, safe as metric labels. TooManyUnhealthy is CAPI's RemediationAllowed=False reason. */
export const SHORT_CIRCUIT_REASON_CODES = [
  'RemediationAllowed',
  'TooManyUnhealthy',
  'InvalidConfiguration',
  'InvalidCounts',
] as const;
export type ShortCircuitReasonCode = (typeof SHORT_CIRCUIT_REASON_CODES)[number];

export interface ShortCircuit {
  allowed: boolean;
  /** status.remediationsAllowed: the limit minus the unhealthy count when allowed, else 0. */
  remediationsAllowed: number;
  reason: ShortCircuitReasonCode;
  message: string;
  /** The offending field (in the object's API version) when reason is InvalidConfiguration. */
  field?: string;
}

/** CAPI's default: remediation is never short-circuited by count. */
export const DEFAULT_UNHEALTHY_LESS_THAN_OR_EQUAL_TO = '100%';

const INT32_MAX = 2 ** 31 - 1;
const UINT32_MAX = 2 ** 32 - 1;
const PERCENT = /^([0-9]+)%$/;
const RANGE = /^\[([0-9]+)-([0-9]+)\]$/;

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * The largest unhealthy count that still allows remediation: an integer as is, "N%" as N percent of
 * `expected` rounded down (intstr.GetScaledValueFromIntOrPercent with roundUp=false, same float64 order).
 */
export function parseUnhealthyLimit(value: number | string, expected: number): Parsed<number> {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > INT32_MAX)
      return { ok: false, error: `${value} is not an integer in [0, ${INT32_MAX}]` };
    return { ok: true, value };
  }
  const m = PERCENT.exec(value);
  const percent = m ? Number(m[1]) : NaN;
  if (!m || percent > INT32_MAX)
    return { ok: false, error: `${JSON.stringify(value)} is neither an integer nor a percentage like "40%"` };
  return { ok: true, value: Math.floor((percent * expected) / 100) };
}

/** "[a-b]" (the CRD's pattern) as {min, max}; a > b is invalid, bounds are uint32 as CAPI parses them. */
export function parseUnhealthyRange(text: string): Parsed<{ min: number; max: number }> {
  const m = RANGE.exec(text);
  if (!m) return { ok: false, error: `${JSON.stringify(text)} is not a range like "[1-3]"` };
  const min = Number(m[1]);
  const max = Number(m[2]);
  if (min > UINT32_MAX || max > UINT32_MAX)
    return { ok: false, error: `${JSON.stringify(text)}: bounds must be at most ${UINT32_MAX}` };
  if (min > max)
    return { ok: false, error: `${JSON.stringify(text)}: max ${max} cannot be less than min ${min}` };
  return { ok: true, value: { min, max } };
}

type TriggerSpec = Pick<MachineHealthCheck, 'version' | 'unhealthyLessThanOrEqualTo' | 'unhealthyInRange'>;

/** Field paths as the user wrote them, per API version. */
function fieldNames(version: MachineHealthCheck['version']): { limit: string; range: string } {
  return version === 'v1beta1'
    ? { limit: 'spec.maxUnhealthy', range: 'spec.unhealthyRange' }
    : {
        limit: 'spec.remediation.triggerIf.unhealthyLessThanOrEqualTo',
        range: 'spec.remediation.triggerIf.unhealthyInRange',
      };
}

const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

/**
 * Whether remediation may start with `unhealthy` of `expected` targets not healthy (CAPI counts
 * expected - currentHealthy, so starting and deleting Machines are included). unhealthyInRange, when
 * set, takes precedence over unhealthyLessThanOrEqualTo, as in CAPI.
 */
export function remediationAllowed(expected: number, unhealthy: number, mhc: TriggerSpec): ShortCircuit {
  if (!isCount(expected) || !isCount(unhealthy) || unhealthy > expected) {
    return {
      allowed: false,
      remediationsAllowed: 0,
      reason: 'InvalidCounts',
      message: `cannot decide: ${unhealthy} unhealthy of ${expected} expected is not a valid count`,
    };
  }
  const names = fieldNames(mhc.version);
  const invalid = (field: string, error: string): ShortCircuit => ({
    allowed: false,
    remediationsAllowed: 0,
    reason: 'InvalidConfiguration',
    message: `remediation is not allowed: ${field} is invalid: ${error}`,
    field,
  });
  const tooMany = (message: string): ShortCircuit => ({
    allowed: false,
    remediationsAllowed: 0,
    reason: 'TooManyUnhealthy',
    message,
  });
  const allowed = (limit: number, message: string): ShortCircuit => ({
    allowed: true,
    // Status is an int32; a uint32 range bound would overflow CAPI's conversion, we cap instead.
    remediationsAllowed: Math.min(limit - unhealthy, INT32_MAX),
    reason: 'RemediationAllowed',
    message,
  });

  // CAPI tests `!= ""`: an empty range means "not set" there too.
  if (mhc.unhealthyInRange !== undefined && mhc.unhealthyInRange !== '') {
    const r = parseUnhealthyRange(mhc.unhealthyInRange);
    if (!r.ok) return invalid(names.range, r.error);
    const { min, max } = r.value;
    const counts = `total: ${expected}, unhealthy: ${unhealthy}, unhealthyRange: ${mhc.unhealthyInRange}`;
    if (unhealthy < min || unhealthy > max) {
      return tooMany(
        `Remediation is not allowed, the number of not started or unhealthy machines does not fall within the range (${counts})`,
      );
    }
    return allowed(max, `Remediation is allowed (${counts})`);
  }

  const raw = mhc.unhealthyLessThanOrEqualTo ?? DEFAULT_UNHEALTHY_LESS_THAN_OR_EQUAL_TO;
  const l = parseUnhealthyLimit(raw, expected);
  if (!l.ok) return invalid(names.limit, l.error);
  const counts = `total: ${expected}, unhealthy: ${unhealthy}, maxUnhealthy: ${raw}`;
  if (unhealthy > l.value) {
    return tooMany(
      `Remediation is not allowed, the number of not started or unhealthy machines exceeds maxUnhealthy (${counts})`,
    );
  }
  return allowed(l.value, `Remediation is allowed (${counts})`);
}
