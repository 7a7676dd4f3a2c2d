// Waiting without polling: an abortable sleep, and waiters keyed by object that a watch wakes up.

/** Sleeps, but wakes at once when signal aborts (so stopping never waits out a backoff). */
export function sleepFor(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    t.unref();
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/**
 * Waits for a condition on an object, re-checked whenever `notify(key)` reports a change to it (an
 * informer's event handler calls it). Resolves true once the condition holds, false when `ms` pass or the
 * signal aborts (with the condition's value at that moment).
 */
export class KeyedWaiters {
  private readonly waiting = new Map<string, Set<() => void>>();

  notify(key: string): void {
    for (const check of [...(this.waiting.get(key) ?? [])]) check();
  }

  wait(key: string, holds: () => boolean, ms: number, signal: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (v: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        const set = this.waiting.get(key);
        set?.delete(check);
        if (set?.size === 0) this.waiting.delete(key);
        resolve(v);
      };
      const check = () => {
        if (holds()) finish(true);
      };
      const onAbort = () => finish(false);
      const timer = setTimeout(() => finish(holds()), Math.min(Math.max(0, ms), 2 ** 31 - 1));
      signal.addEventListener('abort', onAbort, { once: true });
      const set = this.waiting.get(key) ?? new Set();
      set.add(check);
      this.waiting.set(key, set);
    });
  }
}
