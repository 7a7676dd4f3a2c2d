// The cluster both scale-down benchmarks build, one as the planner's input (autoscaler-scaledown.ts), one
// as raw objects (autoscaler-scaledown-inputs.ts): its size, instance shapes, the role of each node and a
// seeded random source, kept here so the two measure the same cluster. And the results-file writer.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export const MIN = 60_000;
/** The benchmarks' clock (epoch ms): every node has been unneeded for an hour before it. */
export const NOW_MS = Date.parse('2026-05-01T12:00:00Z');
export const GPU = 'nvidia.com/gpu';
export const NODES = 5000;
export const PODS = 150_000;
export const GROUPS = 100;
/** Instance shapes: cores and GiB of memory. */
export const SHAPES = [
  { cpu: 4, mem: 16 },
  { cpu: 8, mem: 32 },
  { cpu: 16, mem: 64 },
  { cpu: 32, mem: 128 },
];

/** mulberry32: the same cluster on every run and machine. */
export function seededRandom(seed = 42): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type NodeKind = 'busy' | 'under' | 'empty' | 'blocked';
/** Node index → its role, spread over the groups rather than bunched in the first ones. */
export function kindOf(i: number): NodeKind {
  const k = (i * 7919) % NODES; // a permutation of 0..NODES-1 (7919 is prime, coprime with 5000)
  if (k < 300) return 'under';
  if (k < 400) return 'empty';
  if (k < 600) return 'blocked';
  return 'busy';
}

/** Sets `key` in the JSON results `file`, keeping every other key. */
export function writeResultKey(file: string, key: string, value: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  const others: Record<string, unknown> = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  writeFileSync(file, `${JSON.stringify({ ...others, [key]: value }, null, 2)}\n`);
}
