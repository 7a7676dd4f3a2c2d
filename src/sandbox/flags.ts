// Command lines of the cluster's components. Pure, so the flags the harness depends on are unit-tested.
// Flags are those of Kubernetes 1.20 (the provisioned build); newer binaries via CAPI_AUTOPILOT_K8S_BIN
// accept them too except where noted.

export interface EtcdPorts {
  client: number;
  peer: number;
}

export function etcdArgs(dataDir: string, ports: EtcdPorts): string[] {
  const client = `http://127.0.0.1:${ports.client}`;
  const peer = `http://127.0.0.1:${ports.peer}`;
  return [
    '--name=sandbox',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=sandbox=${peer}`,
    '--initial-cluster-state=new',
    // A throwaway cluster: trade durability for speed on a small disk.
    '--snapshot-count=100000',
    '--quota-backend-bytes=4294967296',
  ];
}

export interface ApiserverOptions {
  etcdUrl: string;
  etcdPrefix: string;
  securePort: number;
  certDir: string;
  tokenFile: string;
  saPublicKey: string;
  saPrivateKey: string;
  serviceClusterIpRange: string;
  /** Major.minor of the binary; flags removed in later releases are only passed to old ones. */
  minor: number;
}

export function apiserverArgs(o: ApiserverOptions): string[] {
  const args = [
    `--etcd-servers=${o.etcdUrl}`,
    `--etcd-prefix=${o.etcdPrefix}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${o.securePort}`,
    `--cert-dir=${o.certDir}`,
    `--token-auth-file=${o.tokenFile}`,
    '--authorization-mode=RBAC',
    `--service-account-key-file=${o.saPublicKey}`,
    `--service-account-signing-key-file=${o.saPrivateKey}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-cluster-ip-range=${o.serviceClusterIpRange}`,
    '--allow-privileged=true',
    // The loopback advertise address may not back the `kubernetes` Service's endpoints.
    '--endpoint-reconciler-type=none',
    '--v=1',
  ];
  // 1.20 still opens an unauthenticated port 8080 by default; two apiservers would collide on it.
  if (o.minor < 24) args.push('--insecure-port=0');
  return args;
}

export function controllerManagerArgs(o: {
  kubeconfig: string;
  saPrivateKey: string;
  rootCa: string;
  minor: number;
}): string[] {
  const args = [
    `--kubeconfig=${o.kubeconfig}`,
    // nodeipam needs a cluster CIDR, which a sandbox without a network plugin has no use for.
    '--controllers=*,-nodeipam',
    `--service-account-private-key-file=${o.saPrivateKey}`,
    `--root-ca-file=${o.rootCa}`,
    '--leader-elect=false',
    '--secure-port=0',
    '--v=1',
  ];
  if (o.minor < 24) args.push('--port=0');
  return args;
}

export function schedulerArgs(o: { kubeconfig: string; minor: number }): string[] {
  const args = [`--kubeconfig=${o.kubeconfig}`, '--leader-elect=false', '--secure-port=0', '--v=1'];
  if (o.minor < 23) args.push('--port=0');
  return args;
}

/** Parses `Kubernetes v1.20.2` (kube-apiserver --version) into its minor version. */
export function parseMinor(versionOutput: string): number {
  const m = /v1\.(\d+)\./.exec(versionOutput);
  if (!m?.[1]) throw new Error(`cannot read a Kubernetes version from: ${versionOutput.trim()}`);
  return Number(m[1]);
}
