// Runs the provisioned promtool (Prometheus's own linter) on text piped to it.
import { spawn } from 'node:child_process';
import { ensureBinaries } from '../../../src/sandbox/binaries.ts';

export async function promtool(args: string[], stdin?: string): Promise<{ code: number; out: string }> {
  const bin = (await ensureBinaries({ quiet: true })).path('promtool');
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, out }));
    p.stdin.end(stdin ?? '');
  });
}
