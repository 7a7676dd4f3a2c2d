import { createAutoscaler } from './autoscaler/controller.ts';
import { createScaleDown } from './autoscaler/scaledown-controller.ts';
import { createMachineDeletion } from './machines/controller.ts';
import { parseArgs } from 'node:util';
import { CAPI_VERSIONS, type CapiVersion } from './capi/types.ts';
import { loadConfig, processConfigSources } from './config/load.ts';
import { createLogger } from './runtime/log.ts';
import { explain } from './explain.ts';
import { startService } from './service.ts';
import { createRemediation } from './remediation/request-controller.ts';
import { tracingSettingsFromEnv } from './tracing/settings.ts';
import {
  attachSandbox,
  printAccess,
  runningSandboxKubeconfig,
  sandboxDown,
  sandboxSimulate,
  sandboxStatus,
  sandboxUp,
  type Io,
} from './sandbox/commands.ts';

const USAGE = `usage: capi-autopilot <command>

commands:
  run [--dry-run] [--no-demo] [--capi-version V] [--config PATH] [--set k=v] [--kubeconfig PATH] [--port N]
                                run the service; without a management kubeconfig, on the local sandbox
                                with its CAPI simulator and demo ('run --help' for details)
  explain [--pod NS/NAME | --node NAME] [--group NS/NAME] [--cluster NS/NAME] [--json] [configuration flags]
                                print what the autoscaler would do now and why, without writing
                                ('explain --help' for details)
  sandbox up [--json] [--demo] [--capi-version v1beta2|v1beta1]
                                start the local sandbox (real control plane, Cluster API CRDs, CAPI
                                simulator) in the background and print its kubeconfig
  sandbox down                  stop the sandbox started by 'sandbox up'
  sandbox status [--json]       show whether the sandbox runs and answers
  sandbox simulate --kubeconfig PATH [--capi-version v1beta2|v1beta1]
                                run only the CAPI simulator against a cluster (foreground)
  help                          this text

environment:
  CAPI_AUTOPILOT_K8S_BIN        use the Kubernetes binaries in this directory instead of provisioning them
  CAPI_AUTOPILOT_CACHE          where binaries and sandbox state live (default ~/.cache/capi-autopilot)`;

const stdio: Io = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

class UsageError extends Error {
  override name = 'UsageError';
}

export async function main(argv: string[], io: Io = stdio): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'run':
        return await runCommand(rest, io);
      case 'explain':
        return await explainCommand(rest, io);
      case 'sandbox':
        return await sandboxCommand(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        io.err(`unknown command '${cmd}'\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    io.err(`capi-autopilot: ${(e as Error).message}`);
    return e instanceof UsageError ? 2 : 1;
  }
}

function parseCapiVersion(v: string | undefined): CapiVersion | undefined {
  if (v === undefined) return undefined;
  if ((CAPI_VERSIONS as readonly string[]).includes(v)) return v as CapiVersion;
  throw new UsageError(`--capi-version must be one of ${CAPI_VERSIONS.join(', ')}, not '${v}'`);
}

async function sandboxCommand(argv: string[], io: Io): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      demo: { type: 'boolean', default: false },
      'capi-version': { type: 'string' },
      kubeconfig: { type: 'string' },
    },
  });
  const capiVersion = parseCapiVersion(values['capi-version']);
  switch (positionals[0]) {
    case 'up':
      return sandboxUp(io, values.json, { demo: values.demo, capiVersion: capiVersion ?? 'v1beta2' });
    case 'down':
      return sandboxDown(io);
    case 'status':
      return sandboxStatus(io, values.json);
    case 'simulate':
      if (!values.kubeconfig) throw new UsageError('sandbox simulate needs --kubeconfig');
      return sandboxSimulate(io, values.kubeconfig, capiVersion, waitForSignal());
    default:
      io.err(`unknown sandbox command '${positionals[0] ?? ''}'\n\n${USAGE}`);
      return 2;
  }
}

const RUN_USAGE = `usage: capi-autopilot run [--no-demo] [--capi-version v1beta2|v1beta1] [configuration flags]

Runs the service. Without a management kubeconfig (management.kubeconfig, --kubeconfig, or
management.inCluster) it runs on the local sandbox: started here with the CAPI simulator and the demo,
or the one 'sandbox up' left running.

  --dry-run                     decide and report (logs, /status, metrics, spans) but write nothing:
                                no scale, no event, no lease

configuration flags (precedence: defaults < --config file < CAPI_AUTOPILOT_* env < flags):
  --config PATH                 YAML configuration file (also CAPI_AUTOPILOT_CONFIG)
  --set section.key=value       any configuration field (repeatable)
  --kubeconfig PATH             management cluster kubeconfig (management.kubeconfig)
  --log-level LEVEL             trace | debug | info | warn | error (log.level)
  --port N                      HTTP port for /healthz /readyz /metrics /status (server.port)
The configuration reference is in README.md.`;

const EXPLAIN_USAGE = `usage: capi-autopilot explain [--pod NS/NAME | --node NAME] [--group NS/NAME] [--cluster NS/NAME]
                              [--json] [--timeout SECONDS] [configuration flags]

Prints what the autoscaler would do now in each workload cluster and why: node groups with their sizes,
state and template node, the scale-ups it would make, and for every pending pod it would not help, each
group's reason (the text of the pod's NotTriggerScaleUp event); then the nodes scale-down would remove
and why every other node stays. Nothing is written. Without a management kubeconfig it reads the running
sandbox ('npm start' or 'sandbox up' in another terminal).

  --pod NS/NAME                 only this pod (in the workload clusters): where it would go, or why not
  --node NAME                   only this node (in the workload clusters): would scale-down remove it, or why not
  --group NS/NAME               only this node group (a MachineDeployment or MachineSet; or Kind/NS/NAME)
  --cluster NS/NAME             only this CAPI Cluster
  --json                        the decisions as JSON (the same records as /status)
  --timeout SECONDS             wait this long for caches and workload connections (default 30)

Configuration flags are those of 'run' (--config, --set, --kubeconfig, --log-level).`;

async function explainCommand(argv: string[], io: Io): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(EXPLAIN_USAGE);
    return 0;
  }
  const own: Record<string, string | true> = {};
  const rest: string[] = [];
  const valued = ['--pod', '--node', '--group', '--cluster', '--timeout'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a];
    if (valued.includes(flag!)) {
      const v = inline ?? argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
      own[flag!.slice(2)] = v;
    } else if (a === '--json') own.json = true;
    else rest.push(a);
  }
  const nsName = (flag: string, kind = false) => {
    const v = own[flag];
    if (v === undefined) return undefined;
    const re = kind ? /^([^/\s]+\/)?[^/\s]+\/[^/\s]+$/ : /^[^/\s]+\/[^/\s]+$/;
    if (typeof v !== 'string' || !re.test(v))
      throw new UsageError(
        `--${flag} must be NAMESPACE/NAME${kind ? ' or KIND/NAMESPACE/NAME' : ''}, not '${String(v)}'`,
      );
    return v;
  };
  if (own.pod !== undefined && own.node !== undefined)
    throw new UsageError('--pod and --node exclude each other');
  const nodeName = (v: string) => {
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(v))
      throw new UsageError(`--node must be a node name, not '${v}'`);
    return v;
  };
  const timeout = Number(own.timeout ?? 30);
  if (!(timeout > 0)) throw new UsageError(`--timeout must be a positive number of seconds`);
  const sources = processConfigSources(rest);
  const config = loadConfig(sources);
  // Logs go to stderr and stay quiet unless asked: stdout is the explanation.
  const log = createLogger({
    ...config.log,
    level: rest.some((a) => a.startsWith('--log-level')) ? config.log.level : 'warn',
  });
  let managementKubeconfig: string | undefined;
  if (!config.management.kubeconfig && !config.management.inCluster) {
    managementKubeconfig = await runningSandboxKubeconfig();
    if (!managementKubeconfig)
      throw new Error(
        'no management kubeconfig (--kubeconfig, management.kubeconfig) and no sandbox running: start one with `npm start` or `capi-autopilot sandbox up --demo`',
      );
  }
  return explain(io, {
    config,
    log,
    managementKubeconfig,
    pod: nsName('pod'),
    ...(typeof own.node === 'string' ? { node: nodeName(own.node) } : {}),
    group: nsName('group', true),
    cluster: nsName('cluster'),
    json: own.json === true,
    timeoutMs: timeout * 1000,
  });
}

/** Deadline for a clean shutdown: in-flight steps finish or stop at a safe point, the lease is released. */
const SHUTDOWN_DEADLINE_MS = 30_000;

async function runCommand(argv: string[], io: Io): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(RUN_USAGE);
    return 0;
  }
  // run's own flags; everything else is configuration.
  let demo = true;
  let dryRun = false;
  let capiVersionFlag: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--no-demo') demo = false;
    else if (a === '--demo') demo = true;
    else if (a === '--dry-run') dryRun = true;
    else if (a === '--capi-version') capiVersionFlag = argv[++i];
    else if (a.startsWith('--capi-version=')) capiVersionFlag = a.slice('--capi-version='.length);
    else rest.push(a);
  }
  const capiVersion = parseCapiVersion(capiVersionFlag) ?? 'v1beta2';
  const sources = processConfigSources(rest);
  const config = loadConfig(sources);
  // OTEL_* variables are validated before anything starts: a typo fails here, not silently later.
  const tracing = tracingSettingsFromEnv(sources.env);
  const log = createLogger(config.log);
  let sandbox: Awaited<ReturnType<typeof attachSandbox>> | undefined;
  if (!config.management.kubeconfig && !config.management.inCluster) {
    sandbox = await attachSandbox(io, { demo, capiVersion });
    printAccess(io, sandbox.binDir, sandbox.kubeconfig, demo);
  }
  // The sandbox has no CAPI MachineHealthCheck controller: there this service plays it (auto → standalone).
  const remediationMode =
    config.remediation.mode === 'auto' ? (sandbox ? 'standalone' : 'companion') : config.remediation.mode;
  let service;
  try {
    service = await startService({
      config: { ...config, remediation: { ...config.remediation, mode: remediationMode } },
      log,
      tracing,
      managementKubeconfig: sandbox?.kubeconfig,
      dryRun,
      // Scale-up, scale-down, remediation, and recovery of delete operations (one deleter for all).
      // A dry run only decides: recovery would have to write to finish what it finds.
      controllers: (env) => {
        const deletion = dryRun ? undefined : createMachineDeletion(env);
        const autoscaler = createAutoscaler(env);
        const scaleDown = createScaleDown(env, {
          ...(deletion ? { deleter: deletion.deleter } : {}),
          lastScaleUp: autoscaler.lastScaleUp,
        });
        const remediation =
          remediationMode === 'off'
            ? []
            : createRemediation(env, deletion ? { deleter: deletion.deleter } : {}).controllers;
        return [
          ...(deletion ? [deletion.recovery] : []),
          autoscaler.controller,
          scaleDown.controller,
          ...remediation,
        ];
      },
    });
    if (dryRun) io.out('dry run: nothing is written; decisions are logged and shown in /status');
  } catch (e) {
    await sandbox?.stop();
    throw e;
  }
  io.out(`service:    http://127.0.0.1:${service.port}/status   (also /healthz /readyz /metrics)`);
  io.out('Ctrl-C stops what this command started and exits.');
  await waitForSignal();
  io.err('stopping');
  const stopped = (async () => {
    await service.stop();
    await sandbox?.stop();
  })();
  const timedOut = await Promise.race([
    stopped.then(() => false),
    new Promise<boolean>((r) => setTimeout(() => r(true), SHUTDOWN_DEADLINE_MS).unref()),
  ]);
  if (timedOut) io.err(`shutdown did not finish within ${SHUTDOWN_DEADLINE_MS / 1000} s; exiting anyway`);
  return 0;
}

/** Resolves on the first SIGINT/SIGTERM; a second one exits at once (the exit hook kills children). */
function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(143));
      resolve(sig);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}
