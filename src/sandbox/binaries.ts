import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REQUIRED_BINARIES = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubectl',
] as const;
export type BinaryName = (typeof REQUIRED_BINARIES)[number] | 'promtool';

export interface Binaries {
  dir: string;
  path(name: BinaryName): string;
}

const provisionScript = fileURLToPath(new URL('../../scripts/provision.sh', import.meta.url));

export class ProvisionError extends Error {
  override name = 'ProvisionError';
}

/**
 * Returns the directory holding the Kubernetes binaries, provisioning them on first use.
 * The script prints progress on stderr (passed through, so a long build is visible) and
 * the binary directory as its last stdout line.
 */
export async function ensureBinaries(opts: { quiet?: boolean } = {}): Promise<Binaries> {
  const dir = await runProvision(opts.quiet ?? false);
  for (const name of REQUIRED_BINARIES) {
    try {
      await access(join(dir, name), constants.X_OK);
    } catch {
      throw new ProvisionError(`provisioning reported ${dir} but ${name} is not executable there`);
    }
  }
  return { dir, path: (name) => join(dir, name) };
}

function runProvision(quiet: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [provisionScript], {
      stdio: ['ignore', 'pipe', quiet ? 'pipe' : 'inherit'],
    });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => reject(new ProvisionError(`cannot run ${provisionScript}: ${e.message}`)));
    child.on('close', (code) => {
      const dir = out.trim().split('\n').pop() ?? '';
      if (code === 0 && dir) resolve(dir);
      else {
        const tail = err.trim().split('\n').slice(-15).join('\n');
        reject(new ProvisionError(`provisioning failed (exit ${code})${tail ? `:\n${tail}` : ''}`));
      }
    });
  });
}
