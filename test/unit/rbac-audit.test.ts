// The audit-log analysis behind the RBAC e2e: RBAC's matching rules, stage merging, unused grants and
// the requests only one rule allows.
import { describe, expect, it } from 'vitest';
import {
  analyse,
  auditedRequests,
  ruleAllows,
  type AuditedRequest,
  type BoundRole,
} from '../support/rbac-audit.ts';

const req = (o: Partial<AuditedRequest>): AuditedRequest => ({
  verb: 'get',
  apiGroup: '',
  resource: 'pods',
  allowed: true,
  code: 200,
  uri: '/x',
  ...o,
});
const cluster = (rules: BoundRole['rules']): BoundRole => ({ kind: 'ClusterRole', name: 'c', rules });

describe('ruleAllows', () => {
  const role = cluster([]);
  it.each([
    ['same verb, group, resource', { verbs: ['get'], apiGroups: [''], resources: ['pods'] }, req({}), true],
    ['other verb', { verbs: ['list'], apiGroups: [''], resources: ['pods'] }, req({}), false],
    ['other group', { verbs: ['get'], apiGroups: ['apps'], resources: ['pods'] }, req({}), false],
    [
      'a subresource is its own resource',
      { verbs: ['create'], apiGroups: [''], resources: ['pods'] },
      req({ verb: 'create', resource: 'pods/eviction' }),
      false,
    ],
    [
      'wildcards',
      { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
      req({ resource: 'pods/status' }),
      true,
    ],
    [
      'resourceNames match by name',
      { verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['a'] },
      req({ name: 'a' }),
      true,
    ],
    [
      'resourceNames never match a request without a name (create, list)',
      { verbs: ['create'], apiGroups: [''], resources: ['pods'], resourceNames: ['a'] },
      req({ verb: 'create' }),
      false,
    ],
  ] as const)('%s', (_, rule, r, want) => {
    expect(ruleAllows(role, { ...rule, verbs: [...rule.verbs] } as never, r)).toBe(want);
  });

  it('a Role applies only in its namespace', () => {
    const role: BoundRole = {
      kind: 'Role',
      name: 'r',
      namespace: 'a',
      rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }],
    };
    expect(ruleAllows(role, role.rules[0]!, req({ namespace: 'a' }))).toBe(true);
    expect(ruleAllows(role, role.rules[0]!, req({ namespace: 'b' }))).toBe(false);
    expect(ruleAllows(role, role.rules[0]!, req({}))).toBe(false);
  });
});

describe('auditedRequests', () => {
  const line = (o: Record<string, unknown>) =>
    JSON.stringify({ auditID: '1', verb: 'watch', requestURI: '/u', ...o });
  it("keeps one request per audit ID, the given user's only, with the authorizer's decision", () => {
    const log = [
      line({
        stage: 'ResponseStarted',
        user: { username: 'me' },
        objectRef: { resource: 'pods' },
        responseStatus: { code: 200 },
        annotations: { 'authorization.k8s.io/decision': 'allow' },
      }),
      line({
        stage: 'ResponseComplete',
        user: { username: 'me' },
        objectRef: { resource: 'pods' },
        annotations: { 'authorization.k8s.io/decision': 'allow' },
      }),
      line({
        auditID: '2',
        stage: 'ResponseComplete',
        user: { username: 'other' },
        objectRef: { resource: 'pods' },
      }),
      line({ auditID: '3', stage: 'ResponseComplete', user: { username: 'me' } }), // non-resource (discovery)
      line({
        auditID: '5',
        verb: 'create',
        stage: 'ResponseComplete',
        user: { username: 'me' },
        objectRef: { resource: 'events', namespace: 'n', name: 'e1' },
        responseStatus: { code: 201 },
      }),
      line({
        auditID: '4',
        verb: 'create',
        stage: 'ResponseComplete',
        user: { username: 'me' },
        objectRef: { resource: 'pods', subresource: 'eviction', namespace: 'n', name: 'p' },
        responseStatus: { code: 403 },
        annotations: { 'authorization.k8s.io/decision': 'forbid' },
      }),
      '',
    ].join('\n');
    expect(auditedRequests(log, 'me')).toEqual([
      { verb: 'watch', apiGroup: '', resource: 'pods', allowed: true, code: 200, uri: '/u' },
      // A create on a collection: no name (the authorizer sees none).
      {
        verb: 'create',
        apiGroup: '',
        resource: 'events',
        namespace: 'n',
        allowed: true,
        code: 201,
        uri: '/u',
      },
      {
        verb: 'create',
        apiGroup: '',
        resource: 'pods/eviction',
        namespace: 'n',
        name: 'p',
        allowed: false,
        code: 403,
        uri: '/u',
      },
    ]);
  });
});

describe('analyse', () => {
  const role = cluster([
    { verbs: ['list', 'watch'], apiGroups: [''], resources: ['pods', 'nodes'] },
    { verbs: ['get'], apiGroups: [''], resources: ['pods'] },
    { verbs: ['list'], apiGroups: [''], resources: ['pods'] },
  ]);
  const requests = [
    req({ verb: 'list' }),
    req({ verb: 'watch' }),
    req({ verb: 'get', name: 'p' }),
    req({ verb: 'delete', allowed: false, code: 403 }),
  ];
  const report = analyse([role], requests);

  it('names the refused requests', () => expect(report.denied.map((r) => r.verb)).toEqual(['delete']));
  it('names each grant no allowed request used', () =>
    expect(report.unused.map((g) => `${g.rule} ${g.verb} ${g.resource}`)).toEqual([
      '0 list nodes',
      '0 watch nodes',
    ]));
  it('for each rule, the requests no other rule allows (a rule duplicated elsewhere has none)', () => {
    expect(report.onlyBy.get('ClusterRole/c#0')!.map((r) => r.verb)).toEqual(['watch']);
    expect(report.onlyBy.get('ClusterRole/c#1')!.map((r) => r.verb)).toEqual(['get']);
    expect(report.onlyBy.get('ClusterRole/c#2')).toEqual([]);
  });
});
