// Which Machine labels CAPI's Machine controller keeps in sync on the Node (its node label sync).

/**
 * Machine labels CAPI copies to the Node: node-role.kubernetes.io/*, node-restriction.kubernetes.io/*,
 * *.node-restriction.kubernetes.io/* and (*.)node.cluster.x-k8s.io/* (CAPI's node label sync).
 */
export function isSyncedNodeLabel(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash < 0) return false;
  const domain = key.slice(0, slash);
  return (
    domain === 'node-role.kubernetes.io' ||
    domain === 'node-restriction.kubernetes.io' ||
    domain.endsWith('.node-restriction.kubernetes.io') ||
    domain === 'node.cluster.x-k8s.io' ||
    domain.endsWith('.node.cluster.x-k8s.io')
  );
}
