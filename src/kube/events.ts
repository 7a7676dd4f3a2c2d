// Kubernetes Events, the trail `kubectl describe` shows. Repeats of the same event (object, type, reason,
// message) within ten minutes update one Event's count and lastTimestamp instead of creating new ones,
// as client-go's event correlator does, so a retried step does not flood the namespace. Recording never
// throws: an event that cannot be written is logged and dropped, it must not fail the action it reports.
import { randomBytes } from 'node:crypto';
import type { KubeClient } from './client.ts';
import { isNotFound } from './errors.ts';
import { kubeTime } from './time.ts';

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  /** Absent for cluster-scoped objects (Nodes): their events go to `default`, as the kubelet's do. */
  namespace?: string;
  uid?: string;
}

export type EventType = 'Normal' | 'Warning';

const DEDUP_MS = 10 * 60_000;
const MAX_MESSAGE = 1024;
const MAX_TRACKED = 4096;

export class EventRecorder {
  private readonly client: KubeClient;
  private readonly component: string;
  private readonly onError: (e: Error) => void;
  /** Dedup key → the Event written and how often. Bounded: the oldest entry goes first. */
  private readonly recent = new Map<string, { name: string; namespace: string; count: number; at: number }>();

  constructor(client: KubeClient, o: { component?: string; onError?: (e: Error) => void } = {}) {
    this.client = client;
    this.component = o.component ?? 'capi-autopilot';
    this.onError = o.onError ?? (() => {});
  }

  async record(
    obj: ObjectRef,
    type: EventType,
    reason: string,
    message: string,
    now = new Date(),
  ): Promise<void> {
    const namespace = obj.namespace ?? 'default';
    const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
    const key = [namespace, obj.kind, obj.name, obj.uid ?? '', type, reason, text].join('\u0000');
    const ts = kubeTime(now);
    try {
      const seen = this.recent.get(key);
      if (seen && now.getTime() - seen.at < DEDUP_MS) {
        seen.count++;
        seen.at = now.getTime();
        try {
          await this.client.mergePatch(
            `/api/v1/namespaces/${encodeURIComponent(seen.namespace)}/events/${seen.name}`,
            {
              count: seen.count,
              lastTimestamp: ts,
            },
            undefined,
            { background: true },
          );
          return;
        } catch (e) {
          if (!isNotFound(e)) throw e;
          // Expired or deleted meanwhile: write a new one below.
        }
      }
      const name = `${obj.name}.${randomBytes(8).toString('hex')}`;
      await this.client.create(
        `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`,
        {
          metadata: { name, namespace },
          involvedObject: {
            apiVersion: obj.apiVersion,
            kind: obj.kind,
            name: obj.name,
            ...(obj.namespace ? { namespace: obj.namespace } : {}),
            ...(obj.uid ? { uid: obj.uid } : {}),
          },
          type,
          reason,
          message: text,
          source: { component: this.component },
          reportingComponent: this.component,
          firstTimestamp: ts,
          lastTimestamp: ts,
          count: 1,
        },
        { background: true },
      );
      this.recent.delete(key);
      this.recent.set(key, { name, namespace, count: 1, at: now.getTime() });
      if (this.recent.size > MAX_TRACKED) this.recent.delete(this.recent.keys().next().value!);
    } catch (e) {
      this.onError(e as Error);
    }
  }
}
