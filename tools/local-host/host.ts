/**
 * The local functions host: loads the app the way the Node.js worker does (package.json `main`),
 * learns its functions from the app's own `@azure/functions` registrations, then serves the HTTP
 * triggers and polls the queue triggers until stopped. See README.md beside this file.
 */
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import { join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';

import { loadLocalSettings, readHostConfig, resolveSettingExpression } from './config.js';
import { type CoreRegistry, installFunctionsCore, type RegisteredFunction } from './core-api.js';
import { expandMain } from './glob.js';
import { createHttpServer, type HttpRoute, httpRoutes } from './http-server.js';
import { createInvoker, describeError, type Invoker } from './invoke.js';
import { createLogger, type HostLogger, levelName } from './log.js';
import { QueueListener, queueServiceFor } from './queue-listener.js';

export const HOST_VERSION = '4.x-local';
export const DEFAULT_PORT = 7071;

export interface HostOptions {
  /** The app directory: package.json, host.json, local.settings.json. Default: cwd. */
  appDir?: string;
  /** Overrides package.json `main` (a path or glob, relative to appDir). */
  main?: string;
  /** Default: $PORT, then local.settings.json Host.LocalHttpPort, then 7071. 0 = a free port. */
  port?: number;
  /** Interface to listen on. Default 127.0.0.1. */
  bind?: string;
  /** How long stop() waits for running invocations. Default 10 s. */
  shutdownTimeoutMs?: number;
}

export interface RunningHost {
  port: number;
  /** e.g. http://localhost:7071 */
  url: string;
  functions: RegisteredFunction[];
  routes: HttpRoute[];
  listeners: QueueListener[];
  /** Stops accepting and polling, finishes in-flight work (bounded), runs appTerminate hooks. */
  stop(): Promise<void>;
}

export class HostStartError extends Error {}

export async function startHost(options: HostOptions = {}): Promise<RunningHost> {
  const appDir = resolve(options.appDir ?? process.cwd());
  // local.settings.json first: its Values may override host.json (AzureFunctionsJobHost__...).
  const settings = loadLocalSettings(appDir);
  const config = readHostConfig(appDir);
  const logger = createLogger(config);

  if (settings.found) {
    logger.host(
      'Information',
      `Loaded ${settings.applied.length} setting(s) from ${relative(process.cwd(), settings.file) || settings.file}` +
        (settings.overridden.length > 0
          ? `; the environment wins for ${settings.overridden.join(', ')}`
          : ''),
    );
  } else {
    logger.host(
      'Information',
      `No local.settings.json in ${appDir}: settings come from the environment only.`,
    );
  }

  // System logs go through the invoker (and the app's log hooks) once it exists.
  const late: { invoker?: Invoker } = {};
  const registry: CoreRegistry = installFunctionsCore({
    hostVersion: HOST_VERSION,
    log: (level, category, message) =>
      late.invoker
        ? late.invoker.systemLog(level, category, message)
        : logger.system(levelName(level), message),
  });

  const main = options.main ?? readMain(appDir);
  const files = expandMain(appDir, main);
  if (files.length === 0) {
    throw new HostStartError(
      `No files match main "${main}" in ${appDir}. Build the app first (npm run build).`,
    );
  }
  // Stack traces name the TypeScript sources through the bundle's source maps, as
  // NODE_OPTIONS=--enable-source-maps makes them in Azure (infra/main.bicep).
  process.setSourceMapsEnabled(true);
  for (const file of files) {
    try {
      await import(pathToFileURL(file).href);
    } catch (error) {
      throw new HostStartError(
        `Worker was unable to load entry point "${relative(appDir, file)}": ${describeError(error)}`,
      );
    }
  }
  registry.lock();
  const functions = registry.functions;
  const model = registry.programmingModel();
  if (functions.length > 0 && !model) {
    throw new HostStartError('Functions were registered but no programming model was set.');
  }
  const capabilities = (await model?.getCapabilities?.({})) ?? {};
  if (capabilities.HttpUri) {
    throw new HostStartError(
      'The app enables HTTP streaming (app.setup({ enableHttpStream: true })), which the local host does not support.',
    );
  }

  const invoker = createInvoker({
    registry,
    logger,
    appDir,
    functionTimeoutMs: config.functionTimeoutMs,
  });
  late.invoker = invoker;
  try {
    await invoker.runAppHooks('appStart');
  } catch (error) {
    throw new HostStartError(`An appStart hook failed: ${describeError(error)}`);
  }

  // HTTP
  const routes = httpRoutes(functions, config.routePrefix);
  let stopping = false;
  let ready = false;
  const listeners: QueueListener[] = [];
  let inFlightHttp = 0;
  let httpIdle: (() => void) | undefined;
  const port = options.port ?? envPort() ?? settings.localHttpPort ?? DEFAULT_PORT;
  const bind = options.bind ?? '127.0.0.1';
  let publicUrl = '';
  const server = createHttpServer({
    routes,
    functions,
    invoker,
    logger,
    hostVersion: HOST_VERSION,
    baseUrl: () => publicUrl,
    isStopping: () => stopping,
    isReady: () => ready,
    queueOf: (fn) => listeners.find((l) => l.functionName === fn.name)?.queueName,
    bind,
  });
  server.on('request', (_req, res: http.ServerResponse) => {
    inFlightHttp++;
    res.once('close', () => {
      inFlightHttp--;
      if (inFlightHttp === 0) httpIdle?.();
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new HostStartError(`Port ${port} is unavailable (in use). Set PORT to another port.`)
          : error,
      ),
    );
    server.listen(port, bind, () => resolveListen());
  });
  const actualPort = (server.address() as { port: number }).port;
  const shownHost =
    bind === '127.0.0.1' || bind === '0.0.0.0' || bind === '::' ? 'localhost' : bind;
  publicUrl = `http://${shownHost}:${actualPort}`;

  // Queues

  for (const fn of functions) {
    const type = fn.trigger.type.toLowerCase();
    if (type === 'httptrigger') continue;
    if (type !== 'queuetrigger') {
      logger.host(
        'Warning',
        `Functions.${fn.name}: trigger type '${fn.trigger.type}' is not run by the local host.`,
      );
      continue;
    }
    try {
      const queueName = resolveSettingExpression(String(fn.trigger.queueName ?? ''));
      if (!queueName) throw new Error('queueName is empty');
      const connection =
        typeof fn.trigger.connection === 'string' && fn.trigger.connection !== ''
          ? fn.trigger.connection
          : 'AzureWebJobsStorage';
      const service = await queueServiceFor(connection);
      const listener = new QueueListener({
        fn,
        queueName,
        service,
        options: config.queues,
        invoker,
        logger,
      });
      listeners.push(listener);
    } catch (error) {
      logger.host(
        'Error',
        `Functions.${fn.name} will not run: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
  for (const listener of listeners) listener.start();
  for (const fn of functions) {
    const unsupported = Object.entries(fn.bindings).filter(
      ([name, b]) =>
        name !== fn.triggerName && !(b.direction === 'out' && b.type?.toLowerCase() === 'http'),
    );
    if (unsupported.length > 0) {
      logger.host(
        'Warning',
        `Functions.${fn.name}: the local host does not supply input/output bindings ` +
          `(${unsupported.map(([name, b]) => `${name}: ${b.type}`).join(', ')}); they are ignored.`,
      );
    }
  }

  printFunctions(logger, functions, routes, listeners, publicUrl);
  ready = true;
  logger.host(
    'Information',
    `Host started (local host, Node ${process.version}, pid ${process.pid}): ${publicUrl} — function keys are not enforced locally.`,
  );

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      stopping = true;
      const timeoutMs = options.shutdownTimeoutMs ?? 10_000;
      logger.host('Information', 'Stopping the host: no new requests or messages.');
      const closed = new Promise<void>((done) => server.close(() => done()));
      server.closeIdleConnections();
      await Promise.all(listeners.map((l) => l.stopPolling()));
      const httpDone =
        inFlightHttp === 0
          ? Promise.resolve()
          : new Promise<void>((done) => {
              httpIdle = done;
            });
      const allDone = Promise.all([httpDone, ...listeners.map((l) => l.drained())]).then(
        () => true,
      );
      const finished = await Promise.race([allDone, sleep(timeoutMs).then(() => false)]);
      if (!finished) {
        const abandoned = (await Promise.all(listeners.map((l) => l.abandonRunning()))).reduce(
          (a, b) => a + b,
          0,
        );
        logger.host(
          'Warning',
          `${inFlightHttp + abandoned} invocation(s) still running after ${timeoutMs} ms; stopping anyway` +
            (abandoned > 0
              ? ` (${abandoned} queue message(s) reappear after the visibility timeout).`
              : '.'),
        );
      }
      server.closeIdleConnections();
      server.closeAllConnections();
      await closed;
      try {
        await invoker.runAppHooks('appTerminate');
      } catch (error) {
        logger.host('Error', `An appTerminate hook failed: ${describeError(error)}`);
      }
      logger.host('Information', 'Host stopped.');
    })());

  return { port: actualPort, url: publicUrl, functions, routes, listeners, stop };
}

function envPort(): number | undefined {
  const raw = process.env.PORT;
  if (raw === undefined || raw.trim() === '') return undefined;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new HostStartError(`PORT=${raw} is not a port number.`);
  }
  return port;
}

function readMain(appDir: string): string {
  let pkg: { main?: unknown };
  try {
    pkg = JSON.parse(readFileSync(join(appDir, 'package.json'), 'utf8')) as { main?: unknown };
  } catch (error) {
    throw new HostStartError(
      `Cannot read ${join(appDir, 'package.json')}: ${(error as Error).message}`,
    );
  }
  if (typeof pkg.main !== 'string' || pkg.main === '') {
    throw new HostStartError('package.json has no "main" (the built app, e.g. dist/app/main.js).');
  }
  return pkg.main;
}

function printFunctions(
  logger: HostLogger,
  functions: RegisteredFunction[],
  routes: HttpRoute[],
  listeners: QueueListener[],
  baseUrl: string,
): void {
  const lines = ['Functions:'];
  for (const fn of [...functions].sort((a, b) => a.name.localeCompare(b.name))) {
    const route = routes.find((r) => r.fn === fn);
    const listener = listeners.find((l) => l.functionName === fn.name);
    if (route) {
      const auth =
        route.authLevel === 'anonymous'
          ? ''
          : ` (authLevel ${route.authLevel}, not enforced locally)`;
      lines.push(`    ${fn.name}: [${route.methods.join(',')}] ${baseUrl}/${route.path}${auth}`);
    } else if (listener) {
      lines.push(
        `    ${fn.name}: queueTrigger (queue ${listener.queueName}, poison ${listener.poisonQueueName})`,
      );
    } else {
      lines.push(`    ${fn.name}: ${fn.trigger.type} (not run locally)`);
    }
  }
  if (functions.length === 0) lines.push('    (none registered: check package.json main)');
  logger.host('Information', lines.join('\n'));
}
