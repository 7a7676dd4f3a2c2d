// What a Kubernetes API request path addresses, for span attributes and bounded metric labels. Pure.

const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

export interface ApiPath {
  group: string;
  version: string;
  namespace?: string;
  /** Plural resource, e.g. `machinedeployments`; '' for discovery and non-resource paths. */
  resource: string;
  name?: string;
  subresource?: string;
}

export function parseApiPath(path: string): ApiPath {
  const segs = path.split('?')[0]!.split('/').filter(Boolean).map(decodeSegment);
  let rest: string[];
  let group: string;
  let version: string;
  if (segs[0] === 'api') {
    group = '';
    version = segs[1] ?? '';
    rest = segs.slice(2);
  } else if (segs[0] === 'apis') {
    group = segs[1] ?? '';
    version = segs[2] ?? '';
    rest = segs.slice(3);
  } else {
    return { group: '', version: '', resource: '' };
  }
  // Old-style watch paths (/api/v1/watch/...) address the same resources.
  if (rest[0] === 'watch') rest = rest.slice(1);
  let namespace: string | undefined;
  // namespaces/<ns>/<resource>... is a scope, except a Namespace's own subresources.
  const namespaceSubresource = rest.length === 3 && NAMESPACE_SUBRESOURCES.has(rest[2]!);
  if (rest[0] === 'namespaces' && rest.length >= 3 && !namespaceSubresource) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource = '', name, subresource] = rest;
  return { group, version, namespace, resource, name, subresource };
}

/** The metric label for a path: `resource` or `resource/subresource`; `discovery` or `other` otherwise. */
export function resourceLabel(path: string): string {
  const p = parseApiPath(path);
  if (p.resource === '') return /^\/(api|apis)(\/|$|\?)/.test(path) ? 'discovery' : 'other';
  return p.subresource ? `${p.resource}/${p.subresource}` : p.resource;
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * URL of a namespaced object (or, without a name, the collection) of a kind known only by its reference,
 * e.g. a provider's infrastructure object or a remediation template: the plural is the lower-cased kind
 * plus "s", the convention every Cluster API provider follows.
 */
export function kindPath(apiVersion: string, namespace: string, kind: string, name?: string): string {
  const base = `/apis/${apiVersion}/namespaces/${namespace}/${kind.toLowerCase()}s`;
  return name === undefined ? base : `${base}/${name}`;
}
