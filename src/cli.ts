import { parseArgs } from 'node:util';
import {
  attachSandbox,
  kubectlHint,
  sandboxDown,
  sandboxStatus,
  sandboxUp,
  type Io,
} from './sandbox/commands.ts';

const USAGE = `usage: capi-autopilot <command>

commands:
  run [--kubeconfig PATH]       run against a cluster; without --kubeconfig, on the local sandbox
                                (started here and stopped on Ctrl-C, or the one 'sandbox up' left running)
  sandbox up [--json]           start the local sandbox cluster in the background and print its kubeconfig
  sandbox down                  stop the sandbox started by 'sandbox up'
  sandbox status [--json]       show whether the sandbox runs and answers
  help                          this text

environment:
  CAPI_AUTOPILOT_K8S_BIN        use the Kubernetes binaries in this directory instead of provisioning them
  CAPI_AUTOPILOT_CACHE          where binaries and sandbox state live (default ~/.cache/capi-autopilot)`;

const stdio: Io = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

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
    return 1;
  }
}

async function sandboxCommand(argv: string[], io: Io): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false } },
  });
  switch (positionals[0]) {
    case 'up':
      return sandboxUp(io, values.json);
    case 'down':
      return sandboxDown(io);
    case 'status':
      return sandboxStatus(io, values.json);
    default:
      io.err(`unknown sandbox command '${positionals[0] ?? ''}'\n\n${USAGE}`);
      return 2;
  }
}

async function runCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { kubeconfig: { type: 'string' } } });
  if (values.kubeconfig) {
    io.err(
      'run --kubeconfig: no controllers are part of this build yet; nothing to run against an external cluster',
    );
    return 2;
  }
  const sandbox = await attachSandbox(io);
  io.out(`sandbox cluster ready`);
  io.out(`kubeconfig: ${sandbox.kubeconfig}`);
  io.out(`try:        ${kubectlHint(sandbox.binDir, sandbox.kubeconfig)}`);
  io.out(
    sandbox.cluster ? 'Ctrl-C stops the cluster and exits.' : 'Ctrl-C exits; the sandbox keeps running.',
  );
  await waitForSignal();
  if (sandbox.cluster) {
    io.err('stopping the sandbox cluster');
    await sandbox.cluster.stop();
  }
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
