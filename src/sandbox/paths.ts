import { homedir } from 'node:os';
import { join } from 'node:path';

/** Root of everything the sandbox keeps outside the repository (binaries, running clusters). */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CAPI_AUTOPILOT_CACHE) return env.CAPI_AUTOPILOT_CACHE;
  const xdg = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(xdg, 'capi-autopilot');
}

/** One folder per running cluster: data, logs, kubeconfig and its state file. */
export function runDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheDir(env), 'run');
}
