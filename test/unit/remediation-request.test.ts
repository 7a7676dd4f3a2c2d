import { describe, expect, it } from 'vitest';
import {
  buildRequest,
  rebootToken,
  readRequest,
  statusBody,
  withRemediating,
} from '../../src/remediation/request.ts';
import { rebootState } from '../../src/remediation/actions.ts';
import { REBOOTED_ANNOTATION, REBOOT_REQUESTED_ANNOTATION } from '../../src/remediation/contract.ts';

const T0 = '2026-11-26T10:00:00Z';
const raw = (spec: unknown, status: unknown = undefined, meta: Record<string, unknown> = {}) => ({
  apiVersion: 'remediation.capi-autopilot.io/v1alpha1',
  kind: 'AutopilotRemediation',
  metadata: {
    name: 'm-1',
    namespace: 'ns',
    uid: 'u-1',
    resourceVersion: '7',
    ownerReferences: [{ apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Machine', name: 'm-1', uid: 'mu' }],
    ...meta,
  },
  spec,
  ...(status === undefined ? {} : { status }),
});
const steps = [
  { action: 'Reboot', timeout: '5m' },
  { action: 'Reprovision', timeout: '30m', retries: 2 },
];

describe('readRequest', () => {
  it('reads steps, owner uid, resourceVersion and an empty status', () => {
    const r = readRequest(raw({ steps }));
    expect(r).toMatchObject({
      namespace: 'ns',
      name: 'm-1',
      uid: 'u-1',
      resourceVersion: '7',
      machineUid: 'mu',
      deleting: false,
      status: {},
      conditions: [],
    });
    expect(r.steps).toEqual([
      { action: 'Reboot', timeoutMs: 300_000, retries: 1 },
      { action: 'Reprovision', timeoutMs: 1_800_000, retries: 2 },
    ]);
    expect(r.specError).toBeUndefined();
  });

  it.each([
    [{}, 'spec.steps: expected a list of steps'],
    [{ steps: [] }, 'spec.steps: at least one step is required'],
    [{ steps: [{ action: 'Reboot', timeout: '5m', retry: 3 }] }, 'spec.steps[0].retry: unknown field'],
    [{ steps: [{ action: 'PowerOff', timeout: '5m' }] }, 'unknown action "PowerOff"'],
  ])('refuses spec %j: %s', (spec, msg) => {
    const r = readRequest(raw(spec));
    expect(r.steps).toBeUndefined();
    expect(r.specError).toContain(msg);
  });

  it('reads a recorded attempt', () => {
    const r = readRequest(
      raw({ steps }, { phase: 'Running', step: 1, attempt: 2, attemptStartedAt: T0, lastFailure: 'x' }),
    );
    expect(r.status).toEqual({
      phase: 'Running',
      step: 1,
      attempt: 2,
      attemptStartedAt: Date.parse(T0),
      lastFailure: 'x',
    });
    expect(r.statusError).toBeUndefined();
  });

  it.each([
    [{ phase: 'Done' }, 'status.phase: unknown phase "Done"'],
    [{ phase: 'Running', step: '1' }, 'status.step: expected an integer'],
    [{ phase: 'Running', attempt: 1.5 }, 'status.attempt: expected an integer'],
    [{ phase: 'Running', attemptStartedAt: 'yesterday' }, 'status.attemptStartedAt: not an RFC 3339 time'],
  ])('never acts on an unreadable status %j', (status, msg) => {
    expect(readRequest(raw({ steps }, status)).statusError).toContain(msg);
  });

  it('sees deletion and a missing owner', () => {
    const r = readRequest(raw({ steps }, undefined, { deletionTimestamp: T0, ownerReferences: [] }));
    expect(r.deleting).toBe(true);
    expect(r.machineUid).toBeUndefined();
  });

  it('ignores an owner reference that is not a CAPI Machine', () => {
    const r = readRequest(
      raw({ steps }, undefined, {
        ownerReferences: [{ apiVersion: 'v1', kind: 'Machine', name: 'x', uid: 'z' }],
      }),
    );
    expect(r.machineUid).toBeUndefined();
  });
});

describe('statusBody', () => {
  it('writes every field it owns, null when unset, with the action of the current step', () => {
    const parsed = readRequest(raw({ steps })).steps!;
    expect(statusBody({}, parsed, [])).toEqual({
      status: {
        phase: 'Pending',
        step: null,
        action: null,
        attempt: null,
        attemptStartedAt: null,
        lastFailure: null,
        conditions: [],
      },
    });
    const body = statusBody(
      {
        phase: 'Running',
        step: 1,
        attempt: 1,
        attemptStartedAt: Date.parse(T0),
        lastFailure: 'reboot timed out',
      },
      parsed,
      [],
    );
    expect(body.status).toMatchObject({
      phase: 'Running',
      step: 1,
      action: 'Reprovision',
      attempt: 1,
      attemptStartedAt: T0,
      lastFailure: 'reboot timed out',
    });
  });

  it('round-trips through readRequest', () => {
    const st = { phase: 'Running' as const, step: 0, attempt: 1, attemptStartedAt: Date.parse(T0) };
    const parsed = readRequest(raw({ steps })).steps!;
    const again = readRequest(raw({ steps }, statusBody(st, parsed, []).status));
    expect(again.status).toEqual(st);
  });
});

describe('withRemediating', () => {
  it('keeps lastTransitionTime while the status holds and moves it on a change', () => {
    const a = withRemediating([], 'True', 'Rebooting', 'm', new Date(T0));
    const b = withRemediating(a, 'True', 'Reprovisioning', 'n', new Date('2026-11-26T10:05:00Z'));
    expect(b[0]).toMatchObject({ reason: 'Reprovisioning', lastTransitionTime: T0 });
    const c = withRemediating(b, 'False', 'MachineHealthy', 'ok', new Date('2026-11-26T10:06:00Z'));
    expect(c[0]?.lastTransitionTime).toBe('2026-11-26T10:06:00Z');
    expect(c).toHaveLength(1);
  });
});

describe('buildRequest (CAPI external remediation contract)', () => {
  const template = {
    spec: {
      template: {
        metadata: { labels: { team: 'a' }, annotations: { note: 'x' } },
        spec: { steps },
      },
    },
  };
  const ref = {
    apiVersion: 'remediation.capi-autopilot.io/v1alpha1',
    kind: 'AutopilotRemediationTemplate',
    name: 'esc',
  };
  const machine = { namespace: 'ns', name: 'm-1', uid: 'mu', clusterName: 'c1' };

  it('kind without Template, the Machine name and namespace, an owner reference to the Machine', () => {
    const r = buildRequest(template, ref, machine, 'v1beta2');
    expect(r).toEqual({
      object: {
        apiVersion: 'remediation.capi-autopilot.io/v1alpha1',
        kind: 'AutopilotRemediation',
        metadata: {
          name: 'm-1',
          namespace: 'ns',
          labels: { team: 'a', 'cluster.x-k8s.io/cluster-name': 'c1' },
          annotations: {
            note: 'x',
            'cluster.x-k8s.io/cloned-from-name': 'esc',
            'cluster.x-k8s.io/cloned-from-groupkind':
              'AutopilotRemediationTemplate.remediation.capi-autopilot.io',
          },
          ownerReferences: [
            { apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Machine', name: 'm-1', uid: 'mu' },
          ],
        },
        spec: { steps },
      },
    });
  });

  it('the owner reference carries the management cluster version', () => {
    const r = buildRequest(template, ref, machine, 'v1beta1');
    expect(
      'object' in r && (r.object.metadata as { ownerReferences: unknown[] }).ownerReferences[0],
    ).toMatchObject({
      apiVersion: 'cluster.x-k8s.io/v1beta1',
    });
  });

  it.each([
    [{ ...ref, kind: 'AutopilotRemediation' }, template, 'does not end with "Template"'],
    [{ ...ref, kind: 'Template' }, template, 'does not end with "Template"'],
    [ref, { spec: {} }, 'has no spec.template'],
  ])('refuses %j', (r, t, msg) => {
    const out = buildRequest(t, r, machine, 'v1beta2');
    expect('error' in out && out.error).toContain(msg);
  });
});

describe('reboot hook state', () => {
  const infra = (a: Record<string, string>) => ({ metadata: { annotations: a } });
  const tok = rebootToken('u-1', 0, 2);
  it.each([
    [{}, 'not-requested'],
    [{ [REBOOT_REQUESTED_ANNOTATION]: 'u-1/0/1', [REBOOTED_ANNOTATION]: 'u-1/0/1' }, 'not-requested'],
    [{ [REBOOT_REQUESTED_ANNOTATION]: tok }, 'requested'],
    [{ [REBOOT_REQUESTED_ANNOTATION]: tok, [REBOOTED_ANNOTATION]: 'u-1/0/1' }, 'requested'],
    [{ [REBOOT_REQUESTED_ANNOTATION]: tok, [REBOOTED_ANNOTATION]: tok }, 'answered'],
  ])("%j → %s (only this attempt's token counts)", (a, want) => {
    expect(rebootState(infra(a), tok)).toBe(want);
  });
  it('tokens differ per request, step and attempt', () => {
    expect(
      new Set([
        rebootToken('a', 0, 1),
        rebootToken('a', 0, 2),
        rebootToken('a', 1, 1),
        rebootToken('b', 0, 1),
      ]).size,
    ).toBe(4);
  });
});
