import Bottleneck from 'bottleneck';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLimiter } from '../../src/kube/limiter.ts';

/** Timers Bottleneck arms while one job passes a limiter with free capacity. */
async function timersPerJob(limiter: Bottleneck): Promise<number> {
  await limiter.schedule(async () => 1); // warm: first-use work is not counted
  const spy = vi.spyOn(globalThis, 'setTimeout');
  await limiter.schedule(async () => 1);
  const zeroDelay = spy.mock.calls.filter(([, ms]) => !ms).length;
  spy.mockRestore();
  return zeroDelay;
}

describe('createLimiter', () => {
  afterEach(() => vi.restoreAllMocks());

  it("drops the in-memory datastore's timer yields (each costs about a millisecond)", async () => {
    const plain = new Bottleneck({ reservoir: 100 });
    const ours = createLimiter({ reservoir: 100 });
    const before = await timersPerJob(plain);
    const after = await timersPerJob(ours);
    expect(before).toBeGreaterThanOrEqual(4);
    expect(after).toBeLessThanOrEqual(1);
    await plain.stop();
    await ours.stop();
  });

  it('still limits: with a reservoir of 2, the third job waits for a refill', async () => {
    const l = createLimiter({ reservoir: 2 });
    const ran: number[] = [];
    for (const i of [1, 2, 3]) void l.schedule(async () => void ran.push(i));
    await new Promise((r) => setTimeout(r, 50));
    expect(ran).toEqual([1, 2]);
    await l.incrementReservoir(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(ran).toEqual([1, 2, 3]);
    await l.stop({ dropWaitingJobs: true });
  });
});
