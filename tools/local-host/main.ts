/**
 * The local functions host (development tooling, never deployed).
 *
 *   npm run host                        # build, then serve ./ on $PORT (default 7071)
 *   node --import tsx tools/local-host/main.ts [--app <dir>] [--main <glob>] [--port <n>]
 *       [--bind <address>] [--shutdown-timeout <seconds>]
 *
 * Settings: local.settings.json `Values` in the app directory, under the process environment
 * (the environment wins). Stops cleanly on SIGINT/SIGTERM (a second signal exits at once).
 */
import { parseArgs } from 'node:util';

import { ConfigError } from './config.js';
import { HostStartError, type RunningHost, startHost } from './host.js';
import { bindWarning } from './host-guard.js';

const USAGE = `Usage: node --import tsx tools/local-host/main.ts [options]
  --app <dir>               the app directory (package.json, host.json, local.settings.json); default .
  --main <glob>             the entry files instead of package.json "main"
  --port <n>                port (default: $PORT, then local.settings.json Host.LocalHttpPort, then 7071)
  --bind <address>          interface to listen on (default 127.0.0.1; function keys are not
                            checked, so another address lets anyone on the network call every function)
  --shutdown-timeout <s>    how long to wait for running invocations on stop (default 10)
  --help`;

function fail(message: string, code = 2): never {
  console.error(message);
  process.exit(code);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        app: { type: 'string' },
        main: { type: 'string' },
        port: { type: 'string' },
        bind: { type: 'string' },
        'shutdown-timeout': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (error) {
    fail(`${(error as Error).message}\n\n${USAGE}`);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    fail(`Invalid --port ${values.port}`);
  }
  const timeout = Number(values['shutdown-timeout'] ?? 10);
  if (!Number.isFinite(timeout) || timeout < 0) fail(`Invalid --shutdown-timeout`);

  const warning = bindWarning(
    values.bind ?? '127.0.0.1',
    'anyone on the network can call every function, and function keys are not checked',
  );
  if (warning) console.error(warning);

  let host: RunningHost | undefined;
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1 || !host) {
      console.error(`${signal} again: exiting now.`);
      process.exit(host ? 1 : 0);
    }
    host.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    host = await startHost({
      ...(values.app !== undefined ? { appDir: values.app } : {}),
      ...(values.main !== undefined ? { main: values.main } : {}),
      ...(port !== undefined ? { port } : {}),
      ...(values.bind !== undefined ? { bind: values.bind } : {}),
      shutdownTimeoutMs: timeout * 1000,
    });
  } catch (error) {
    if (error instanceof HostStartError || error instanceof ConfigError) fail(error.message, 1);
    throw error;
  }
  if (signals > 0) await host.stop().then(() => process.exit(0));
}

main().catch((error: unknown) => {
  console.error('The local host failed:', error);
  process.exit(1);
});
