// Leader election on a coordination.k8s.io/v1 Lease with client-go's semantics: a held lease counts as
// expired only leaseDuration after this replica last saw it change (its own clock, never the holder's
// timestamps); the leader renews every retryPeriod and gives up when it has not renewed for
// renewDeadline, which is shorter than leaseDuration, so it stops acting before anyone else may start.
import type { KubeClient } from './client.ts';
import { isConflict, isNotFound } from './errors.ts';
import { kubeMicroTime } from './time.ts';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  onNewLeader?: (identity: string) => void;
  log?: (msg: string) => void;
  /** Monotonic milliseconds (tests inject their own). */
  now?: () => number;
}

interface Lease {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** client-go's JitterFactor for the retry period. */
const JITTER = 1.2;

const microTime = (): string => kubeMicroTime(new Date());

export class LeaderElector {
  private readonly client: KubeClient;
  private readonly o: Required<
    Omit<LeaderElectionOptions, 'onStartedLeading' | 'onStoppedLeading' | 'onNewLeader' | 'log'>
  > &
    LeaderElectionOptions;
  private observed: { record: string; at: number; holder: string } | undefined;
  private lastRenew = -Infinity;
  private leading = false;
  private stopped = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  /** Set when the lease was seen held by someone else (or gone) while we believed we led. */
  private lostToOther = false;

  constructor(client: KubeClient, o: LeaderElectionOptions) {
    if (!(o.leaseDurationMs > o.renewDeadlineMs))
      throw new RangeError('leaseDuration must be greater than renewDeadline');
    if (!(o.renewDeadlineMs > JITTER * o.retryPeriodMs))
      throw new RangeError('renewDeadline must be greater than retryPeriod*1.2');
    this.client = client;
    this.o = { now: () => performance.now(), ...o };
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.o.namespace}/leases/${this.o.name}`;
  }

  /**
   * True only while this replica holds the lease and renewed it within renewDeadline. Checked before
   * every write batch (KubeClient's writeGuard), so a stalled leader stops writing on its own.
   */
  isLeader(): boolean {
    return this.leading && this.o.now() - this.lastRenew < this.o.renewDeadlineMs;
  }

  get leaderIdentity(): string | undefined {
    return this.observed?.holder || undefined;
  }

  /** Runs acquire/renew until stop(). */
  run(): Promise<void> {
    this.loop ??= this.runLoop();
    return this.loop;
  }

  private async runLoop(): Promise<void> {
    while (!this.stopped) {
      // The renew counts from when it was sent: its answer may arrive late, the lease was taken earlier.
      const attemptAt = this.o.now();
      const ok = await this.tryAcquireOrRenew().catch((e: Error) => {
        this.o.log?.(`leader election: ${e.message}`);
        return false;
      });
      if (this.stopped) break;
      if (ok) {
        this.lastRenew = attemptAt;
        if (!this.leading) {
          this.leading = true;
          this.o.log?.(`leader election: ${this.o.identity} is now the leader`);
          this.o.onStartedLeading?.();
        }
      } else if (
        this.leading &&
        (this.lostToOther || this.o.now() - this.lastRenew >= this.o.renewDeadlineMs)
      ) {
        this.stepDown(
          this.lostToOther
            ? 'the lease names another holder'
            : `no renewal within ${this.o.renewDeadlineMs} ms`,
        );
      }
      const period = this.leading
        ? this.o.retryPeriodMs
        : this.o.retryPeriodMs * (1 + Math.random() * (JITTER - 1));
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, period).unref();
      });
    }
  }

  private stepDown(why: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.o.log?.(`leader election: ${this.o.identity} stepping down: ${why}`);
    this.o.onStoppedLeading?.();
  }

  /** Stops; a leader releases the lease so a standby takes over at once instead of after leaseDuration. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    // Let an acquire or renew in flight finish first, so nothing re-opens leadership after this.
    await this.loop;
    const wasLeading = this.leading;
    this.stepDown('stopping');
    try {
      const cur = await this.client.get<Lease>(this.path);
      // Release only a lease this replica holds (it may have just been acquired by the last attempt).
      if (cur.spec.holderIdentity !== this.o.identity) return;
      await this.client.replace(this.path, {
        ...cur,
        spec: { ...cur.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime() },
      });
    } catch (e) {
      if (wasLeading) this.o.log?.(`leader election: releasing the lease failed: ${(e as Error).message}`);
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const leaseSeconds = Math.ceil(this.o.leaseDurationMs / 1000);
    this.lostToOther = false;
    let cur: Lease | undefined;
    try {
      cur = await this.client.get<Lease>(this.path);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    // Observed after the read: a slow answer must not make a fresh renewal look old.
    const now = this.o.now();
    if (!cur) {
      // Deleted under us: whoever recreates it first leads; we stop acting until we hold it again.
      if (this.leading) this.lostToOther = true;
      try {
        await this.client.create(`/apis/coordination.k8s.io/v1/namespaces/${this.o.namespace}/leases`, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.o.name, namespace: this.o.namespace },
          spec: {
            holderIdentity: this.o.identity,
            leaseDurationSeconds: leaseSeconds,
            acquireTime: microTime(),
            renewTime: microTime(),
            leaseTransitions: 0,
          },
        });
        this.observe(JSON.stringify({ holder: this.o.identity }), this.o.identity, now);
        return true;
      } catch (e) {
        if (isConflict(e)) return false; // someone else created it first
        throw e;
      }
    }
    const holder = cur.spec.holderIdentity ?? '';
    this.observe(JSON.stringify(cur.spec), holder, now);
    if (this.leading && holder !== this.o.identity) {
      // Someone else holds it (taken over, or edited by hand): stop acting now, not at the renew deadline.
      this.lostToOther = true;
      return false;
    }
    const expired = this.observed!.at + this.o.leaseDurationMs <= now;
    if (holder && holder !== this.o.identity && !expired) return false;
    const takingOver = holder !== this.o.identity;
    try {
      await this.client.replace(this.path, {
        ...cur,
        spec: {
          holderIdentity: this.o.identity,
          leaseDurationSeconds: leaseSeconds,
          acquireTime: takingOver ? microTime() : cur.spec.acquireTime,
          renewTime: microTime(),
          leaseTransitions: (cur.spec.leaseTransitions ?? 0) + (takingOver && holder ? 1 : 0),
        },
      });
    } catch (e) {
      if (isConflict(e)) return false; // another replica wrote it since we read it
      throw e;
    }
    return true;
  }

  /** Remembers when the lease record last changed, on our own clock. */
  private observe(record: string, holder: string, now: number): void {
    if (this.observed?.record === record) return;
    const changed = this.observed?.holder !== holder;
    this.observed = { record, at: now, holder };
    if (holder && changed) this.o.onNewLeader?.(holder);
  }
}
