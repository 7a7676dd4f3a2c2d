/** A kubeconfig for one cluster, one bearer-token user and one context; YAML-compatible JSON. */
export function renderKubeconfig(opts: {
  name: string;
  server: string;
  caPem: string;
  token: string;
}): string {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: opts.name,
        cluster: {
          server: opts.server,
          'certificate-authority-data': Buffer.from(opts.caPem).toString('base64'),
        },
      },
    ],
    users: [{ name: `${opts.name}-admin`, user: { token: opts.token } }],
    contexts: [{ name: opts.name, context: { cluster: opts.name, user: `${opts.name}-admin` } }],
    'current-context': opts.name,
    preferences: {},
  };
  return JSON.stringify(config, null, 2) + '\n';
}
