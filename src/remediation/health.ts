// MachineHealthCheck evaluation, pure: which Machines an MHC targets and whether each is healthy, with
// CAPI's semantics (core/reconcilers/machinehealthcheck/machinehealthcheck_targets.go needsRemediation,
// healthCheckTargets, getTargetsFromMHC, shouldSkipRemediation; CAPI-FACTS §4.1). Version-agnostic: it
// reads the normalized types. No I/O, no clock: `now` is an input. Where CAPI would decide on a value we
// could not read (a missing or malformed condition time, which Go would treat as the zero time), the
// target is "unknown" and the problem is reported: never unhealthy on a guess.
//
// Order per target: deleting → remediate-machine annotation → reported failure → cluster gates
// (ControlPlaneInitialized for non-control-plane Machines, InfrastructureReady for all) → Machine
// conditions and Node checks together (NodeDeleted, NodeStartupTimeout, or Node conditions).
// A condition is unhealthy once it has matched for strictly longer than its timeout (Go's Before).
import { formatGoDurationSeconds } from '../capi/duration.ts';
import { matchesSelector } from '../capi/selectors.ts';
import {
  ANNOTATIONS,
  LABELS,
  type Condition,
  type LabelSelector,
  type Machine,
  type MachineHealthCheck,
  type UnhealthyCondition,
} from '../capi/types.ts';
import { parseKubeTime, v1beta2Conditions, type ClusterFacts, type NodeFacts } from './types.ts';

export type { ClusterFacts, NodeCondition, NodeFacts } from './types.ts';

/** CAPI's MachineControlPlaneLabel (util.IsControlPlaneMachine tests presence). */
export const CONTROL_PLANE_LABEL = 'cluster.x-k8s.io/control-plane';

/**
 * Why a target is in its state: a fixed set, safe as metric labels. The first six mean unhealthy and are
 * CAPI's HealthCheckSucceeded=False reasons (v1beta2 names; MachineHasFailure is the v1beta1 one, the
 * failure check predates v1beta2); HealthCheckSucceeded means healthy.
 */
export const HEALTH_REASON_CODES = [
  'HasRemediateAnnotation',
  'MachineHasFailure',
  'UnhealthyMachine',
  'NodeDeleted',
  'NodeStartupTimeout',
  'UnhealthyNode',
  'HealthCheckSucceeded',
  'TimeoutRunning',
  'WaitingForNode',
  'ControlPlaneNotInitialized',
  'ClusterInfrastructureNotReady',
  'Deleting',
  'NodeCacheUnavailable',
  'Unreadable',
] as const;
export type HealthReasonCode = (typeof HEALTH_REASON_CODES)[number];

/** Why a selected Machine is not a target at all (it does not count in expectedMachines). */
export const SKIP_REASON_CODES = ['Paused', 'SkipRemediation'] as const;
export type SkipReasonCode = (typeof SKIP_REASON_CODES)[number];

/** Why the MachineHealthCheck itself cannot be evaluated. */
export const EVALUATION_ERROR_CODES = ['InvalidSelector', 'InvalidTimeout'] as const;
export type EvaluationErrorCode = (typeof EVALUATION_ERROR_CODES)[number];

/**
 * healthy: counts in currentHealthy (not deleting, has a Node, nothing pending). unhealthy: needs
 * remediation. pending: neither yet (a timeout runs, no Node yet, or the cluster is not ready).
 * deleting: neither healthy nor remediated. unknown: could not be judged (see the message).
 */
export type TargetState = 'healthy' | 'unhealthy' | 'pending' | 'deleting' | 'unknown';

export interface TargetHealth {
  machine: string;
  /** status.nodeRef.name, when set. */
  node?: string;
  state: TargetState;
  code: HealthReasonCode;
  message: string;
  /** Epoch ms: the first instant a running timeout has expired (deadline + 1 ms); never on unhealthy. */
  nextCheckAt?: number;
}

export interface SkippedMachine {
  machine: string;
  code: SkipReasonCode;
  message: string;
}

export interface HealthProblem {
  machine?: string;
  node?: string;
  message: string;
}

export interface HealthInput {
  mhc: MachineHealthCheck;
  cluster: ClusterFacts;
  /** Machines of the MHC's namespace (or more: others are ignored); the evaluation selects targets. */
  machines: readonly Machine[];
  /** Workload cluster Nodes by name. */
  nodes: ReadonlyMap<string, NodeFacts>;
  /** False when the workload cluster's node cache is not synced or not reachable: no Node verdicts. */
  nodeCacheAvailable: boolean;
  /** Epoch ms. */
  now: number;
}

export type HealthEvaluation =
  | {
      ok: true;
      /** Set when the Cluster or the MHC is paused: CAPI's controller does nothing then, nor may ours. */
      paused?: string;
      /** Sorted by Machine name. */
      targets: TargetHealth[];
      skipped: SkippedMachine[];
      expectedMachines: number;
      currentHealthy: number;
      /** expectedMachines - currentHealthy: starting, pending, unknown and deleting targets count. */
      unhealthy: number;
      /** The earliest nextCheckAt of all targets: requeue then. */
      nextCheckAt?: number;
      problems: HealthProblem[];
    }
  | { ok: false; code: EvaluationErrorCode; message: string };

const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');

function selectorError(s: LabelSelector): string | undefined {
  for (const [k, v] of Object.entries(s.matchLabels ?? {})) {
    if (k === '' || typeof v !== 'string') return `matchLabels entry ${JSON.stringify(k)} is invalid`;
  }
  for (const r of s.matchExpressions ?? []) {
    const n = r.values?.length ?? 0;
    if (!r.key) return 'a matchExpressions entry has no key';
    if (r.operator === 'In' || r.operator === 'NotIn') {
      if (n === 0) return `operator ${r.operator} on ${r.key} needs at least one value`;
    } else if (r.operator === 'Exists' || r.operator === 'DoesNotExist') {
      if (n > 0) return `operator ${r.operator} on ${r.key} takes no values`;
    } else {
      return `unknown operator ${JSON.stringify(r.operator)} on ${r.key}`;
    }
  }
  return undefined;
}

const isSeconds = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

function configError(mhc: MachineHealthCheck): { code: EvaluationErrorCode; message: string } | undefined {
  const sel = selectorError(mhc.selector);
  if (sel) return { code: 'InvalidSelector', message: `the selector cannot be evaluated: ${sel}` };
  if (!isSeconds(mhc.nodeStartupTimeoutSeconds))
    return {
      code: 'InvalidTimeout',
      message: `nodeStartupTimeoutSeconds ${mhc.nodeStartupTimeoutSeconds} is not a whole number of seconds ≥ 0`,
    };
  for (const c of [...mhc.unhealthyNodeConditions, ...mhc.unhealthyMachineConditions]) {
    if (!isSeconds(c.timeoutSeconds))
      return {
        code: 'InvalidTimeout',
        message: `the check ${c.type}=${c.status} has timeoutSeconds ${c.timeoutSeconds}, not a whole number ≥ 0`,
      };
  }
  return undefined;
}

/** What the condition checks of one object found. */
interface Findings {
  unhealthy: string[];
  problems: string[];
  /** Deadlines (epoch ms) of timeouts still running. */
  deadlines: number[];
  running: string[];
}
const noFindings = (): Findings => ({ unhealthy: [], problems: [], deadlines: [], running: [] });

/** unhealthy{Node,Machine}Conditions against one object's conditions; the first of a type counts, as in CAPI. */
function checkConditions(
  conds: readonly { type: string; status: string; reason?: string; lastTransitionTime?: string }[],
  checks: readonly UnhealthyCondition[],
  what: string,
  now: number,
  out: Findings,
): void {
  for (const check of checks) {
    const c = conds.find((x) => x.type === check.type);
    if (!c || c.status !== check.status) continue;
    const timeout = formatGoDurationSeconds(check.timeoutSeconds);
    const since = c.lastTransitionTime === undefined ? undefined : parseKubeTime(c.lastTransitionTime);
    if (since === undefined) {
      const t = c.lastTransitionTime === undefined ? 'missing' : JSON.stringify(c.lastTransitionTime);
      out.problems.push(`${what} condition ${c.type} is ${c.status}, lastTransitionTime unreadable: ${t}`);
      continue;
    }
    const deadline = since + check.timeoutSeconds * 1000;
    const reason = c.reason ? ` (reason ${c.reason})` : '';
    if (deadline < now) {
      out.unhealthy.push(
        `${what} condition ${c.type} has been ${c.status}${reason} for more than ${timeout}`,
      );
    } else {
      out.deadlines.push(deadline);
      out.running.push(
        `${what} condition ${c.type} is ${c.status}${reason}: unhealthy after ${iso(deadline)}`,
      );
    }
  }
}

type NodeLookup =
  | { kind: 'none' }
  | { kind: 'cacheUnavailable'; name?: string }
  | { kind: 'missing'; name: string }
  | { kind: 'found'; node: NodeFacts };

function lookupNode(m: Machine, x: HealthInput): NodeLookup {
  // Without the cache even "no Node yet" is not judged: after the control plane is initialized CAPI
  // evaluates nothing while it cannot reach the workload cluster.
  if (!x.nodeCacheAvailable)
    return m.nodeRef ? { kind: 'cacheUnavailable', name: m.nodeRef } : { kind: 'cacheUnavailable' };
  if (!m.nodeRef) return { kind: 'none' };
  const node = x.nodes.get(m.nodeRef);
  return node ? { kind: 'found', node } : { kind: 'missing', name: m.nodeRef };
}

/**
 * Start of the node startup timeout: the latest known of machine creation, cluster infrastructure
 * ready, control plane initialized and machine infrastructure ready (CAPI ignores the ones not True).
 */
function startupSince(m: Machine, x: HealthInput, out: Findings): number | undefined {
  const candidates: [string, string | undefined][] = [['machine creation', m.meta.creationTimestamp]];
  if (m.meta.creationTimestamp === undefined) {
    out.problems.push('the Machine has no creationTimestamp to count the node startup timeout from');
    return undefined;
  }
  if (x.cluster.controlPlaneInitialized)
    candidates.push(['control plane initialized', x.cluster.controlPlaneInitializedTime]);
  if (x.cluster.infrastructureReady)
    candidates.push(['cluster infrastructure ready', x.cluster.infrastructureReadyTime]);
  const infra: Condition | undefined = v1beta2Conditions(m).find((c) => c.type === 'InfrastructureReady');
  if (infra?.status === 'True') candidates.push(['machine infrastructure ready', infra.lastTransitionTime]);
  let latest: number | undefined;
  for (const [what, text] of candidates) {
    if (text === undefined) continue; // not known: CAPI skips it too
    const t = parseKubeTime(text);
    if (t === undefined)
      out.problems.push(`the ${what} time ${JSON.stringify(text)} is not an RFC 3339 time`);
    else if (latest === undefined || t > latest) latest = t;
  }
  return out.problems.length > 0 ? undefined : latest;
}

function evaluateTarget(m: Machine, x: HealthInput): TargetHealth {
  const base = { machine: m.meta.name, ...(m.nodeRef ? { node: m.nodeRef } : {}) };
  const verdict = (state: TargetState, code: HealthReasonCode, message: string, next?: number) => ({
    ...base,
    state,
    code,
    message,
    ...(next === undefined ? {} : { nextCheckAt: next }),
  });
  if (m.meta.deletionTimestamp)
    return verdict('deleting', 'Deleting', 'the Machine is being deleted: not judged, not remediated');
  if (ANNOTATIONS.remediateMachine in m.meta.annotations)
    return verdict('unhealthy', 'HasRemediateAnnotation', `marked with ${ANNOTATIONS.remediateMachine}`);
  if (m.failureReason !== undefined || m.failureMessage !== undefined) {
    const what = [m.failureReason, m.failureMessage].filter((s) => s).join(': ') || 'no details';
    return verdict('unhealthy', 'MachineHasFailure', `the Machine reports a failure (${what})`);
  }

  const node = lookupNode(m, x);
  // CAPI does not judge before the cluster is ready, but counts a Machine whose Node it read as healthy.
  // It reads no Node before the control plane is initialized, so that gate never counts one.
  if (!x.cluster.controlPlaneInitialized && !(CONTROL_PLANE_LABEL in m.meta.labels))
    return verdict('pending', 'ControlPlaneNotInitialized', 'not checked: control plane not initialized');
  if (!x.cluster.infrastructureReady) {
    const why = 'not checked while the cluster infrastructure is not ready';
    return node.kind === 'found'
      ? verdict('healthy', 'ClusterInfrastructureNotReady', `${why}; counted healthy as it has a Node`)
      : verdict('pending', 'ClusterInfrastructureNotReady', why);
  }

  const mf = noFindings();
  checkConditions(v1beta2Conditions(m), x.mhc.unhealthyMachineConditions, 'Machine', x.now, mf);
  const nf = noFindings();
  let nodeCode: HealthReasonCode = 'UnhealthyNode';
  let waiting: string | undefined;
  switch (node.kind) {
    case 'cacheUnavailable':
      break;
    case 'missing':
      nodeCode = 'NodeDeleted';
      nf.unhealthy.push(`Node ${node.name} has been deleted`);
      break;
    case 'found':
      checkConditions(node.node.conditions, x.mhc.unhealthyNodeConditions, 'Node', x.now, nf);
      break;
    case 'none': {
      const seconds = x.mhc.nodeStartupTimeoutSeconds;
      if (seconds === 0) {
        waiting = 'no Node yet (the node startup timeout is disabled)';
        break;
      }
      const since = startupSince(m, x, nf);
      if (since === undefined) break;
      const deadline = since + seconds * 1000;
      if (deadline < x.now) {
        nodeCode = 'NodeStartupTimeout';
        nf.unhealthy.push(`no Node reported startup within ${formatGoDurationSeconds(seconds)}`);
      } else {
        nf.deadlines.push(deadline);
        waiting = `no Node yet: node startup timeout at ${iso(deadline)}`;
      }
      break;
    }
    default: {
      const never: never = node;
      throw new RangeError(`unknown node lookup ${String(never)}`);
    }
  }

  const unhealthy = [...mf.unhealthy, ...nf.unhealthy];
  if (unhealthy.length > 0)
    return verdict(
      'unhealthy',
      mf.unhealthy.length > 0 ? 'UnhealthyMachine' : nodeCode,
      unhealthy.join('; '),
    );
  const deadlines = [...mf.deadlines, ...nf.deadlines];
  const next = deadlines.length > 0 ? Math.min(...deadlines) + 1 : undefined;
  const problems = [...mf.problems, ...nf.problems];
  if (problems.length > 0) return verdict('unknown', 'Unreadable', problems.join('; '), next);
  const running = [...mf.running, ...nf.running];
  if (node.kind === 'cacheUnavailable')
    return verdict(
      'unknown',
      'NodeCacheUnavailable',
      [
        `${node.name ? `Node ${node.name}` : 'node startup'} not checked: the node cache is unavailable`,
        ...running,
      ].join('; '),
      next,
    );
  if (waiting !== undefined)
    return verdict('pending', 'WaitingForNode', [waiting, ...running].join('; '), next);
  if (running.length > 0) return verdict('pending', 'TimeoutRunning', running.join('; '), next);
  return verdict('healthy', 'HealthCheckSucceeded', 'all checks pass');
}

const byName = (a: { machine: string }, b: { machine: string }): number =>
  a.machine < b.machine ? -1 : a.machine > b.machine ? 1 : 0;

/** Evaluates one MachineHealthCheck: its targets, their health, CAPI's counts and when to look again. */
export function evaluateHealth(x: HealthInput): HealthEvaluation {
  const { mhc } = x;
  const err = configError(mhc);
  if (err) return { ok: false, ...err };

  // CAPI lists Machines with the MHC selector plus the cluster-name label, in the MHC's namespace.
  const selected = x.machines.filter(
    (m) =>
      m.meta.namespace === mhc.meta.namespace &&
      m.meta.labels[LABELS.clusterName] === mhc.clusterName &&
      matchesSelector(m.meta.labels, mhc.selector),
  );
  const targets: TargetHealth[] = [];
  const skipped: SkippedMachine[] = [];
  for (const m of selected) {
    const a = m.meta.annotations;
    if (ANNOTATIONS.paused in a)
      skipped.push({ machine: m.meta.name, code: 'Paused', message: `it has ${ANNOTATIONS.paused}` });
    else if (ANNOTATIONS.skipRemediation in a)
      skipped.push({
        machine: m.meta.name,
        code: 'SkipRemediation',
        message: `it has ${ANNOTATIONS.skipRemediation}`,
      });
    else targets.push(evaluateTarget(m, x));
  }
  targets.sort(byName);
  skipped.sort(byName);

  const problems: HealthProblem[] = targets
    .filter((t) => t.code === 'Unreadable')
    .map((t) => ({ machine: t.machine, ...(t.node ? { node: t.node } : {}), message: t.message }));
  const currentHealthy = targets.filter((t) => t.state === 'healthy').length;
  const nexts = targets.flatMap((t) => (t.nextCheckAt === undefined ? [] : [t.nextCheckAt]));
  const paused = x.cluster.paused
    ? 'the Cluster is paused (spec.paused)'
    : ANNOTATIONS.paused in mhc.meta.annotations
      ? `the MachineHealthCheck has ${ANNOTATIONS.paused}`
      : undefined;
  return {
    ok: true,
    ...(paused ? { paused } : {}),
    targets,
    skipped,
    expectedMachines: targets.length,
    currentHealthy,
    unhealthy: targets.length - currentHealthy,
    ...(nexts.length > 0 ? { nextCheckAt: Math.min(...nexts) } : {}),
    problems,
  };
}
