// A management cluster without our remediation CRDs (a user who only wants the autoscaler): remediation is
// off with the reason in the log and /status, and nothing else waits for it (readiness, the controllers).
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRemediation } from '../../src/remediation/request-controller.ts';
import { Controller } from '../../src/runtime/controller.ts';
import { createLogger } from '../../src/runtime/log.ts';
import { httpGet } from '../../src/sandbox/wait.ts';
import { startService, type Service } from '../../src/service.ts';
import { startManagement, type Management } from './support/capi.ts';
import { eventually, serviceConfig } from './support/kube.ts';

const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

describe('remediation without its CRDs', () => {
  let mgmt: Management;
  let svc: Service;
  const logs: string[] = [];
  let ran = 0;

  beforeAll(async () => {
    mgmt = await startManagement('v1beta2');
    for (const p of ['autopilotremediations', 'autopilotremediationtemplates'])
      await mgmt.api.ok('DELETE', `${CRDS}/${p}.remediation.capi-autopilot.io`);
    await eventually(
      'the remediation group no longer served',
      async () => (await mgmt.api.req('GET', '/apis/remediation.capi-autopilot.io')).status === 404,
    );
    const sink = new Writable({ write: (c: Buffer, _e, cb) => (logs.push(c.toString()), cb()) });
    svc = await startService({
      config: serviceConfig(mgmt.kubeconfigPath, 'remediation.mode=standalone'),
      log: createLogger({ level: 'info', format: 'json' }, sink),
      portOverride: 0,
      controllers: (env) => {
        // Another controller, to see that it still runs.
        const probe = new Controller({
          name: 'probe',
          workers: 1,
          log: env.log,
          reconcile: async () => void ran++,
          onActiveChange: (active) => active && probe.enqueue('x'),
        });
        return [probe, ...createRemediation(env).controllers];
      },
    });
  });
  afterAll(async () => {
    await svc?.stop();
    await mgmt?.stop();
  });

  it('is off with the reason, while readiness and the other controllers go on', async () => {
    await eventually('ready', async () => svc.readiness().ready);
    await eventually('the other controller ran', async () => ran > 0);
    const status = JSON.parse((await httpGet(`http://127.0.0.1:${svc.port}/status`)).body) as {
      remediation: { mode: string; reason: string };
      informers: Record<string, unknown>;
    };
    expect(status.remediation.mode).toBe('off');
    expect(status.remediation.reason).toMatch(/AutopilotRemediation CRDs .* are not installed/);
    expect(Object.keys(status.informers).some((k) => k.includes('autopilotremediations'))).toBe(false);
    expect(
      logs.some((l) => l.includes('remediation off: the AutopilotRemediation CRDs are not installed')),
    ).toBe(true);
  });
});
