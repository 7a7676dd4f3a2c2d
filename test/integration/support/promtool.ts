// Runs the provisioned promtool (Prometheus's own linter) on text piped to it.
import { ensureBinaries } from '../../../src/sandbox/binaries.ts';
import { runPiped } from './kube.ts';

export async function promtool(args: string[], stdin?: string): Promise<{ code: number; out: string }> {
  return runPiped((await ensureBinaries({ quiet: true })).path('promtool'), args, stdin);
}
