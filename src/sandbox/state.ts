import { mkdir, readdir, readFile, rm, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { isOurProcess, processStartTicks, stopRecorded, type ProcessRecord } from './processes.ts';

/** What a running cluster leaves on disk so a later run can find, report or clean it up. */
export interface ClusterState {
  name: string;
  /** Attached clusters die with their owner; detached ones (`sandbox up`) live until `sandbox down`. */
  detached: boolean;
  /** The process that started it; while it lives the cluster is in use (or still starting). */
  owner: { pid: number; startTicks: string };
  kubeconfig: string;
  server: string;
  binDir: string;
  processes: ProcessRecord[];
  createdAt: string;
}

export type StaleVerdict = 'keep' | 'reap' | 'forget';

/**
 * keep: in use (its owner lives, or it is a detached sandbox that still runs).
 * reap: its owner is gone but some of its processes still run (a crashed test run).
 * forget: nothing of it runs any more; only the folder is left.
 */
export function staleVerdict(
  s: ClusterState,
  ownerAlive: (owner: ClusterState['owner']) => boolean,
  running: (p: ProcessRecord) => boolean,
): StaleVerdict {
  if (ownerAlive(s.owner)) return 'keep';
  const anyRunning = s.processes.some(running);
  if (!anyRunning) return 'forget';
  return s.detached ? 'keep' : 'reap';
}

export const ownerIsAlive = (o: { pid: number; startTicks: string }): boolean =>
  o.startTicks !== '' && processStartTicks(o.pid) === o.startTicks;

export function selfOwner(): { pid: number; startTicks: string } {
  return { pid: process.pid, startTicks: processStartTicks(process.pid) };
}

export async function writeState(dir: string, s: ClusterState): Promise<void> {
  // A temp name of our own: two writers never interleave in one file, and rename is atomic.
  const tmp = join(dir, `state.json.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  await writeFile(tmp, JSON.stringify(s, null, 2));
  await rename(tmp, join(dir, 'state.json'));
}

export async function readState(dir: string): Promise<ClusterState | null> {
  try {
    return JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as ClusterState;
  } catch {
    return null;
  }
}

/** Stops processes of clusters whose owner died and removes folders of clusters that no longer run. */
export async function reapStale(root: string, log: (m: string) => void = () => {}): Promise<void> {
  await mkdir(root, { recursive: true });
  for (const entry of await readdir(root, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const dir = join(root, entry.name);
    const s = await readState(dir);
    // A folder without state is either being created right now or junk; leave it to `sandbox down`.
    if (!s) continue;
    const verdict = staleVerdict(s, ownerIsAlive, isOurProcess);
    if (verdict === 'keep') continue;
    if (verdict === 'reap') {
      log(`stopping leftover cluster ${s.name} (pids ${s.processes.map((p) => p.pid).join(', ')})`);
      await stopRecorded(s.processes, 5000);
    }
    await rm(dir, { recursive: true, force: true });
  }
}
