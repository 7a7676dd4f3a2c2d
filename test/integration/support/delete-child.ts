// A separate process that runs one delete operation and SIGKILLs itself right before a given step: a
// real `kill -9` in the middle of the protocol (in-flight requests die with it). Used by
// machines-recovery.test.ts; args: <kubeconfig> <namespace> <machine> <uid> <step>.
import { Writable } from 'node:stream';
import { KubeClient } from '../../../src/kube/client.ts';
import { HttpsTransport, kubeConfigFrom } from '../../../src/kube/transport.ts';
import { MachineDeleter } from '../../../src/machines/executor.ts';
import { createLogger } from '../../../src/runtime/log.ts';

const [kubeconfig, namespace, machine, uid, killAt] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];
const client = new KubeClient(new HttpsTransport(kubeConfigFrom({ kubeconfig })), {
  qps: 100,
  burst: 100,
  timeoutMs: 10_000,
  maxRetries: 3,
});
const deleter = new MachineDeleter({
  client,
  version: 'v1beta2',
  holder: `child-${process.pid}`,
  log: createLogger({ level: 'silent', format: 'json' }, new Writable({ write: (_c, _e, cb) => cb() })),
  pollMs: 100,
  beforeStep: (_id, step) => {
    if (step.kind === killAt) process.kill(process.pid, 'SIGKILL');
  },
});
// The protocol's waits use unref'd timers (they must not keep a stopping service alive); keep this one up.
const keepAlive = setInterval(() => {}, 1000);
const r = await deleter.delete({
  namespace,
  machine,
  uid,
  group: { kind: 'MachineDeployment', namespace, name: 'md-a' },
  purpose: 'scale-down',
});
// Reaching here means the step never came: report it, the test fails on it.
clearInterval(keepAlive);
process.stdout.write(JSON.stringify(r));
process.exit(3);
