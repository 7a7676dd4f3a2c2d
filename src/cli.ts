import { parseArgs } from 'node:util';
import { CAPI_VERSIONS, type CapiVersion } from './capi/types.ts';
import {
  attachSandbox,
  printAccess,
  sandboxDown,
  sandboxSimulate,
  sandboxStatus,
  sandboxUp,
  type Io,
} from './sandbox/commands.ts';

const USAGE = `usage: capi-autopilot <command>

commands:
  run [--kubeconfig PATH] [--no-demo] [--capi-version v1beta2|v1beta1]
                                run against a cluster; without --kubeconfig, on the local sandbox with
                                its CAPI simulator and demo (started here and stopped on Ctrl-C, or the
                                one 'sandbox up' left running)
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

async function runCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    allowNegative: true,
    options: {
      kubeconfig: { type: 'string' },
      demo: { type: 'boolean', default: true },
      'capi-version': { type: 'string' },
    },
  });
  if (values.kubeconfig) {
    io.err(
      'run --kubeconfig: no controllers are part of this build yet; nothing to run against an external cluster',
    );
    return 2;
  }
  const capiVersion = parseCapiVersion(values['capi-version']) ?? 'v1beta2';
  const sandbox = await attachSandbox(io, { demo: values.demo, capiVersion });
  io.out(`sandbox ready (Cluster API ${capiVersion}, CAPI simulator running)`);
  printAccess(io, sandbox.binDir, sandbox.kubeconfig, values.demo);
  io.out('Ctrl-C stops what this command started and exits.');
  await waitForSignal();
  io.err('stopping');
  await sandbox.stop();
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
