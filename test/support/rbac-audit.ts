// What a user really did against an apiserver (its audit log) set against the RBAC rules it was given:
// requests refused, grants no request used, and for each rule the requests only it allowed. Pure; the
// real authorizer confirms the conclusions in the e2e (SubjectAccessReview), this only finds candidates.

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
  nonResourceURLs?: string[];
}

/** A Role or ClusterRole bound to the user; a RoleBinding limits it to `namespace`. */
export interface BoundRole {
  kind: 'Role' | 'ClusterRole';
  name: string;
  namespace?: string;
  rules: PolicyRule[];
}

/** One request as the authorizer saw it. */
export interface AuditedRequest {
  verb: string;
  apiGroup: string;
  /** `pods` or `pods/eviction`. */
  resource: string;
  namespace?: string;
  name?: string;
  allowed: boolean;
  code: number;
  uri: string;
}

interface AuditEvent {
  auditID: string;
  stage: string;
  verb: string;
  requestURI: string;
  user?: { username?: string };
  objectRef?: {
    resource?: string;
    subresource?: string;
    namespace?: string;
    name?: string;
    apiGroup?: string;
  };
  responseStatus?: { code?: number };
  annotations?: Record<string, string>;
}

/** Resource requests of `user` in an audit log (JSON lines), one per request (stages merged). */
export function auditedRequests(log: string, user: string): AuditedRequest[] {
  const byId = new Map<string, AuditedRequest>();
  for (const line of log.split('\n')) {
    if (!line.trim()) continue;
    const e = JSON.parse(line) as AuditEvent;
    if (e.user?.username !== user || !e.objectRef?.resource) continue;
    const o = e.objectRef;
    const decision = e.annotations?.['authorization.k8s.io/decision'];
    const code = e.responseStatus?.code ?? 0;
    const prev = byId.get(e.auditID);
    const r: AuditedRequest = {
      verb: e.verb,
      apiGroup: o.apiGroup ?? '',
      resource: o.subresource ? `${o.resource}/${o.subresource}` : o.resource!,
      ...(o.namespace ? { namespace: o.namespace } : {}),
      // A create on a collection carries no name for the authorizer (the audit log names the created
      // object); a create on a subresource (pods/eviction) is of a named object.
      ...(o.name && (e.verb !== 'create' || o.subresource) ? { name: o.name } : {}),
      allowed: decision !== undefined ? decision === 'allow' : code !== 403,
      code: code || prev?.code || 0,
      uri: e.requestURI,
    };
    byId.set(e.auditID, r);
  }
  return [...byId.values()];
}

const has = (list: readonly string[] | undefined, v: string) =>
  !!list && (list.includes('*') || list.includes(v));

/** Whether `rule` of `role` allows `r` (RBAC's matching: verb, group, resource/subresource, names, namespace). */
export function ruleAllows(role: BoundRole, rule: PolicyRule, r: AuditedRequest): boolean {
  if (role.namespace !== undefined && r.namespace !== role.namespace) return false;
  if (!has(rule.verbs, r.verb) || !has(rule.apiGroups, r.apiGroup) || !has(rule.resources, r.resource))
    return false;
  if (rule.resourceNames?.length) return r.name !== undefined && rule.resourceNames.includes(r.name);
  return true;
}

/** One verb on one resource of one group, as a rule grants it. */
export interface Grant {
  role: string;
  rule: number;
  apiGroup: string;
  resource: string;
  verb: string;
}

/** Every verb × group × resource a role's rules grant. */
export function grantsOf(role: BoundRole): Grant[] {
  return role.rules.flatMap((rule, i) =>
    (rule.apiGroups ?? []).flatMap((apiGroup) =>
      (rule.resources ?? []).flatMap((resource) =>
        rule.verbs.map((verb) => ({ role: role.name, rule: i, apiGroup, resource, verb })),
      ),
    ),
  );
}

export const grantKey = (g: Omit<Grant, 'rule'>) =>
  `${g.role}: ${g.verb} ${g.apiGroup || 'core'}/${g.resource}`;

export interface RbacReport {
  /** Requests the authorizer refused. */
  denied: AuditedRequest[];
  /** Grants (verb × group × resource of a rule) that no allowed request used. */
  unused: Grant[];
  /** Per rule (`role#index`): the allowed requests no other rule allows (removing the rule refuses them). */
  onlyBy: Map<string, AuditedRequest[]>;
}

export const ruleId = (role: BoundRole, i: number) => `${role.kind}/${role.name}#${i}`;

export function analyse(roles: readonly BoundRole[], requests: readonly AuditedRequest[]): RbacReport {
  const allowed = requests.filter((r) => r.allowed);
  const unused: Grant[] = [];
  const onlyBy = new Map<string, AuditedRequest[]>();
  for (const role of roles) {
    for (const g of grantsOf(role)) {
      const narrowed = {
        ...role.rules[g.rule]!,
        apiGroups: [g.apiGroup],
        resources: [g.resource],
        verbs: [g.verb],
      };
      if (!allowed.some((r) => ruleAllows(role, narrowed, r))) unused.push(g);
    }
    role.rules.forEach((rule, i) => {
      const mine = allowed.filter(
        (r) =>
          ruleAllows(role, rule, r) &&
          !roles.some((o) => o.rules.some((x, j) => (o !== role || j !== i) && ruleAllows(o, x, r))),
      );
      onlyBy.set(ruleId(role, i), mine);
    });
  }
  return { denied: requests.filter((r) => !r.allowed), unused, onlyBy };
}
