// Shipped RBAC under test: rendering the manifests, the roles they bind to the service's
// ServiceAccount, creating them as admin, and asking the real authorizer (SubjectAccessReview) about
// a user holding every role but one rule.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadAll } from 'js-yaml';
import type { RestClient } from '../../../src/sandbox/rest.ts';
import type { AuditedRequest, BoundRole, PolicyRule } from '../../support/rbac-audit.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));
const RBAC = '/apis/rbac.authorization.k8s.io/v1';

export type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: PolicyRule[];
  roleRef?: { kind: string; name: string };
  subjects?: Array<{ kind: string; name: string; namespace?: string }>;
};

/** `kubectl kustomize deploy/<dir>`: the text and its objects. */
export async function render(dir: string, kubectl: string): Promise<{ text: string; objs: Obj[] }> {
  const { stdout } = await run(kubectl, ['kustomize', join(root, 'deploy', dir)]);
  return { text: stdout, objs: (loadAll(stdout) as Obj[]).filter(Boolean) };
}

/** The roles the manifests bind to ServiceAccount `namespace/name`. */
export function boundRoles(objs: Obj[], namespace: string, name: string): BoundRole[] {
  const roles: BoundRole[] = [];
  for (const b of objs.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding')) {
    const bound = b.subjects?.some(
      (s) => s.kind === 'ServiceAccount' && s.name === name && s.namespace === namespace,
    );
    if (!bound) continue;
    const role = objs.find((o) => o.kind === b.roleRef!.kind && o.metadata.name === b.roleRef!.name);
    if (!role) throw new Error(`${b.kind} ${b.metadata.name} refers to a role the manifests do not have`);
    roles.push({
      kind: role.kind as BoundRole['kind'],
      name: role.metadata.name,
      ...(b.kind === 'RoleBinding' ? { namespace: b.metadata.namespace! } : {}),
      rules: role.rules ?? [],
    });
  }
  return roles;
}

export const RBAC_KINDS = new Set([
  'Namespace',
  'ServiceAccount',
  'ClusterRole',
  'ClusterRoleBinding',
  'Role',
  'RoleBinding',
]);

/** Creates objects as the cluster's admin, namespaces first; existing ones are left alone. */
export async function applyAsAdmin(api: RestClient, objs: Obj[]): Promise<void> {
  const ordered = [...objs].sort((a, b) => Number(b.kind === 'Namespace') - Number(a.kind === 'Namespace'));
  for (const o of ordered) {
    const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
    const base = group ? `/apis/${group}/${version}` : `/api/${version}`;
    const plural = `${o.kind.toLowerCase()}s`.replace(/ys$/, 'ies');
    const path = o.metadata.namespace
      ? `${base}/namespaces/${o.metadata.namespace}/${plural}`
      : `${base}/${plural}`;
    const r = await api.req('POST', path, o);
    if (r.status >= 300 && r.status !== 409)
      throw new Error(`creating ${o.kind} ${o.metadata.name}: ${r.status} ${r.text}`);
  }
}

/** A self-contained kubeconfig: server, inline CA, bearer token. */
export function tokenKubeconfig(server: string, caPem: string, token: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'c', cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } },
    ],
    users: [{ name: 'u', user: { token } }],
    contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'c',
  });
}

/** Whether the real authorizer lets `user` make request `r`. */
export async function subjectAccess(api: RestClient, user: string, r: AuditedRequest): Promise<boolean> {
  const [resource, subresource = ''] = r.resource.split('/');
  const review = await api.ok<{ status: { allowed: boolean } }>(
    'POST',
    '/apis/authorization.k8s.io/v1/subjectaccessreviews',
    {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user,
        groups: ['system:authenticated'],
        resourceAttributes: {
          verb: r.verb,
          group: r.apiGroup,
          resource,
          subresource,
          namespace: r.namespace ?? '',
          name: r.name ?? '',
        },
      },
    },
  );
  return review.status.allowed;
}

/** Binds User `user` to copies of every role, with rule `ruleIndex` of `without` left out. */
export async function bindAllRulesBut(
  api: RestClient,
  roles: readonly BoundRole[],
  without: BoundRole,
  ruleIndex: number,
  user: string,
): Promise<void> {
  for (const other of roles) {
    const rules = other === without ? other.rules.filter((_, j) => j !== ruleIndex) : other.rules;
    const name = `${user}-${other.name}`;
    const metadata = { name, ...(other.namespace ? { namespace: other.namespace } : {}) };
    const binding = {
      metadata,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: other.kind, name },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
    };
    if (other.kind === 'Role') {
      await api.ok('POST', `${RBAC}/namespaces/${other.namespace}/roles`, { metadata, rules });
      await api.ok('POST', `${RBAC}/namespaces/${other.namespace}/rolebindings`, binding);
    } else {
      await api.ok('POST', `${RBAC}/clusterroles`, { metadata, rules });
      await api.ok('POST', `${RBAC}/clusterrolebindings`, binding);
    }
  }
}
