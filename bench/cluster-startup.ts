// Measures how long the harness takes to bring up a ready cluster (binaries already provisioned)
// and how much memory each component holds once ready. Writes bench/results/cluster-startup.json.
//   npm run bench:cluster [-- runs]
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { startCluster } from '../src/sandbox/cluster.ts';

const runs = Number(process.argv[2] ?? 3);
const rssMiB = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m?.[1] ? Math.round(Number(m[1]) / 1024) : NaN;
};

const samples: Array<{ readySeconds: number; stopSeconds: number; rssMiB: Record<string, number> }> = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const c = await startCluster({ name: `bench-${process.pid}-${i}`, quiet: true });
  const readySeconds = (performance.now() - t0) / 1000;
  // Let the controllers finish their initial sync before reading memory.
  await new Promise((r) => setTimeout(r, 5000));
  const rss = Object.fromEntries(c.processes().map((p) => [p.name.replace(/\(.*\)$/, ''), rssMiB(p.pid)]));
  const t1 = performance.now();
  await c.stop();
  samples.push({ readySeconds, stopSeconds: (performance.now() - t1) / 1000, rssMiB: rss });
  console.log(`run ${i + 1}: ready in ${readySeconds.toFixed(2)} s, rss ${JSON.stringify(rss)}`);
}
const ready = samples.map((s) => s.readySeconds).sort((a, b) => a - b);
const result = {
  benchmark: 'cluster-startup',
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model },
  runs,
  readySeconds: { min: ready[0], median: ready[Math.floor(ready.length / 2)], max: ready.at(-1) },
  samples,
};
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/cluster-startup.json', JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify(result.readySeconds));
