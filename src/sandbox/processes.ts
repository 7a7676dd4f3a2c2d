import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** What a state file records of a process, enough to find it again and prove it is still ours. */
export interface ProcessRecord {
  name: string;
  pid: number;
  exe: string;
  /** Start time (clock ticks since boot): with the pid it identifies the process, even if the pid is reused. */
  startTicks?: string;
}

export interface ManagedProcess extends ProcessRecord {
  logFile: string;
  /** Resolves with the exit code (or signal) once the process is gone. */
  exited: Promise<string>;
  hasExited(): boolean;
  stop(graceMs?: number): Promise<void>;
}

/** Processes started attached to this one; killed synchronously if this process exits without stopping them. */
const attached = new Set<ManagedProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of attached) killGroup(p.pid, 'SIGKILL');
  });
}

const hasSetpriv = existsSync('/usr/bin/setpriv');

/**
 * Starts a binary in its own process group with output to logFile.
 * attached: the kernel kills it when this process dies (PR_SET_PDEATHSIG via setpriv), and an exit
 * hook kills it on a normal exit. detached: it outlives us and is stopped by its state file.
 */
export function startProcess(opts: {
  name: string;
  exe: string;
  args: string[];
  logFile: string;
  attached: boolean;
  env?: NodeJS.ProcessEnv;
}): ManagedProcess {
  const fd = openSync(opts.logFile, 'a');
  const [cmd, args] =
    opts.attached && hasSetpriv
      ? ['/usr/bin/setpriv', ['--pdeathsig', 'SIGKILL', '--', opts.exe, ...opts.args]]
      : [opts.exe, opts.args];
  const child = spawn(cmd, args, {
    detached: true, // own process group, so stop() reaches anything it forks
    stdio: ['ignore', fd, fd],
    env: opts.env ?? process.env,
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${opts.name} (${opts.exe})`);
  const pid = child.pid;
  recordForAudit(pid, opts.exe);
  let done = false;
  const exited = new Promise<string>((resolve) => {
    child.on('exit', (code, signal) => {
      done = true;
      attached.delete(proc);
      resolve(signal ?? String(code));
    });
    child.on('error', (e) => {
      done = true;
      attached.delete(proc);
      resolve(`error: ${e.message}`);
    });
  });
  const proc: ManagedProcess = {
    name: opts.name,
    pid,
    exe: opts.exe,
    startTicks: processStartTicks(pid),
    logFile: opts.logFile,
    exited,
    hasExited: () => done,
    async stop(graceMs = 10_000) {
      if (done) return;
      killGroup(pid, 'SIGTERM');
      const timedOut = await Promise.race([exited.then(() => false), sleep(graceMs, true, { ref: false })]);
      if (timedOut) {
        killGroup(pid, 'SIGKILL');
        await exited;
      }
    },
  };
  if (opts.attached) {
    installExitHook();
    attached.add(proc);
  } else {
    child.unref();
  }
  return proc;
}

/**
 * When CAPI_AUTOPILOT_PID_LOG names a file, every started process is appended to it (`pid exe`), so
 * the test runner can prove afterwards that none of them is still alive.
 */
function recordForAudit(pid: number, exe: string): void {
  const file = process.env.CAPI_AUTOPILOT_PID_LOG;
  if (file) appendFileSync(file, `${pid} ${exe}\n`);
}

export function killGroup(pid: number, signal: NodeJS.Signals): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, signal);
    } catch {
      // already gone, or not a group leader
    }
  }
}

/** True when pid is alive and is the binary we started (guards against PID reuse). */
export function isOurProcess(rec: ProcessRecord): boolean {
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${rec.pid}/cmdline`, 'utf8');
  } catch {
    return false;
  }
  const argv0 = cmdline.split('\0')[0] ?? '';
  // A zombie has an empty cmdline; it is dead for our purposes.
  if (argv0 !== rec.exe && argv0 !== '/usr/bin/setpriv') return false;
  // Same pid and binary is not enough (another test run's etcd has the same path): compare start times.
  return rec.startTicks === undefined || processStartTicks(rec.pid) === rec.startTicks;
}

export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Stops processes recorded by an earlier run: SIGTERM, then SIGKILL after graceMs. */
export async function stopRecorded(records: readonly ProcessRecord[], graceMs = 10_000): Promise<void> {
  const ours = records.filter(isOurProcess);
  for (const r of ours) killGroup(r.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (ours.some(isOurProcess) && Date.now() < deadline) await sleep(100);
  for (const r of ours.filter(isOurProcess)) killGroup(r.pid, 'SIGKILL');
  // SIGKILL cannot be ignored; the bound only guards against a process stuck in the kernel.
  const killDeadline = Date.now() + 10_000;
  while (ours.some(isOurProcess) && Date.now() < killDeadline) await sleep(50);
}

/** Last lines of a log, for error messages when a component dies or never gets ready. */
export function tailLog(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/pid/stat); '' when gone. */
export function processStartTicks(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces; fields after the closing paren are space-separated.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // A zombie (state Z, killed but not yet reaped by its parent) is dead for our purposes.
    if (rest[0] === 'Z' || rest[0] === 'X') return '';
    return rest[19] ?? '';
  } catch {
    return '';
  }
}
