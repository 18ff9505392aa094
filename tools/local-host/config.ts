/**
 * What the local host reads from the app directory: host.json (queue and HTTP extension
 * settings, functionTimeout, log level) and local.settings.json (`Values` into the environment,
 * where the process environment wins), with the defaults the Functions host uses.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** host.json `extensions.queues`, resolved (times in milliseconds). */
export interface QueueOptions {
  messageEncoding: 'base64' | 'none';
  batchSize: number;
  newBatchThreshold: number;
  maxDequeueCount: number;
  visibilityTimeoutMs: number;
  maxPollingIntervalMs: number;
  /**
   * How long a fetched message stays invisible while its function runs (renewed half-way): 600 s
   * as the Functions host. `LOCAL_HOST_QUEUE_LEASE_SECONDS` shortens it, so a test that kills a
   * host sees its messages come back in seconds rather than ten minutes.
   */
  leaseSeconds?: number;
}

export type LogLevelName =
  'Trace' | 'Debug' | 'Information' | 'Warning' | 'Error' | 'Critical' | 'None';

export interface HostConfig {
  queues: QueueOptions;
  routePrefix: string;
  /** undefined: no limit ("-1"). */
  functionTimeoutMs: number | undefined;
  /** host.json logging.logLevel: category → minimum level. */
  logLevels: Record<string, LogLevelName>;
}

/** Log levels, least severe first. */
export const LOG_LEVELS: LogLevelName[] = [
  'Trace',
  'Debug',
  'Information',
  'Warning',
  'Error',
  'Critical',
  'None',
];

export class ConfigError extends Error {}

/**
 * A .NET TimeSpan as host.json writes it ("00:00:10", "1.02:03:04.5", "00:00:00.250"), or a
 * number of milliseconds (the older form some queue settings accept).
 */
export function parseTimeSpan(value: unknown, name: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  if (typeof value === 'string') {
    const match = /^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?$/.exec(value.trim());
    if (match) {
      const [, days = '0', h = '0', m = '0', s = '0', fraction = '0'] = match;
      return (
        ((Number(days) * 24 + Number(h)) * 60 + Number(m)) * 60_000 +
        Number(s) * 1000 +
        Math.round(Number(`0.${fraction}`) * 1000)
      );
    }
  }
  throw new ConfigError(
    `host.json ${name}: ${JSON.stringify(value)} is not a time span (hh:mm:ss)`,
  );
}

function intIn(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`host.json ${name}: must be an integer from ${min} to ${max}`);
  }
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Case-insensitive property lookup: host.json keys are not case-sensitive. */
function prop(object: Record<string, unknown>, key: string): unknown {
  const found = Object.keys(object).find((k) => k.toLowerCase() === key.toLowerCase());
  return found === undefined ? undefined : object[found];
}

export function parseHostJson(json: unknown): HostConfig {
  const root = isRecord(json) ? json : {};
  const extensions = prop(root, 'extensions');
  const queuesRaw = isRecord(extensions) ? prop(extensions, 'queues') : undefined;
  const httpRaw = isRecord(extensions) ? prop(extensions, 'http') : undefined;
  const q = isRecord(queuesRaw) ? queuesRaw : {};

  const encoding = prop(q, 'messageEncoding') ?? 'base64';
  if (typeof encoding !== 'string' || !['base64', 'none'].includes(encoding.toLowerCase())) {
    throw new ConfigError(
      'host.json extensions.queues.messageEncoding: must be "base64" or "none"',
    );
  }
  const batchSize = intIn(prop(q, 'batchSize'), 'extensions.queues.batchSize', 1, 32, 16);
  const queues: QueueOptions = {
    messageEncoding: encoding.toLowerCase() as QueueOptions['messageEncoding'],
    batchSize,
    newBatchThreshold: intIn(
      prop(q, 'newBatchThreshold'),
      'extensions.queues.newBatchThreshold',
      0,
      10_000,
      Math.floor(batchSize / 2),
    ),
    maxDequeueCount: intIn(
      prop(q, 'maxDequeueCount'),
      'extensions.queues.maxDequeueCount',
      1,
      10_000,
      5,
    ),
    visibilityTimeoutMs:
      prop(q, 'visibilityTimeout') === undefined
        ? 0
        : parseTimeSpan(prop(q, 'visibilityTimeout'), 'extensions.queues.visibilityTimeout'),
    maxPollingIntervalMs:
      prop(q, 'maxPollingInterval') === undefined
        ? 60_000
        : parseTimeSpan(prop(q, 'maxPollingInterval'), 'extensions.queues.maxPollingInterval'),
  };
  if (queues.maxPollingIntervalMs < 100) {
    throw new ConfigError(
      'host.json extensions.queues.maxPollingInterval: must be at least 00:00:00.100',
    );
  }

  const prefixRaw = isRecord(httpRaw) ? prop(httpRaw, 'routePrefix') : undefined;
  const routePrefix = typeof prefixRaw === 'string' ? prefixRaw.replace(/^\/+|\/+$/g, '') : 'api';

  const timeoutRaw = prop(root, 'functionTimeout');
  let functionTimeoutMs: number | undefined = 30 * 60_000; // the Premium/Dedicated default
  if (timeoutRaw === '-1' || timeoutRaw === -1) functionTimeoutMs = undefined;
  else if (timeoutRaw !== undefined)
    functionTimeoutMs = parseTimeSpan(timeoutRaw, 'functionTimeout');

  const logging = prop(root, 'logging');
  const levelsRaw = isRecord(logging) ? prop(logging, 'logLevel') : undefined;
  const logLevels: Record<string, LogLevelName> = {};
  if (isRecord(levelsRaw)) {
    for (const [category, level] of Object.entries(levelsRaw)) {
      const known = LOG_LEVELS.find(
        (l) => typeof level === 'string' && l.toLowerCase() === level.toLowerCase(),
      );
      if (known) logLevels[category.toLowerCase()] = known;
    }
  }
  return { queues, routePrefix, functionTimeoutMs, logLevels };
}

export function readHostConfig(appDir: string, env: NodeJS.ProcessEnv = process.env): HostConfig {
  const file = join(appDir, 'host.json');
  if (!existsSync(file)) throw new ConfigError(`No host.json in ${appDir}.`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  const config = parseHostJson(applyHostOverrides(json, env));
  const lease = Number(env.LOCAL_HOST_QUEUE_LEASE_SECONDS);
  if (Number.isInteger(lease) && lease >= 2) config.queues.leaseSeconds = lease;
  return config;
}

const OVERRIDE_PREFIX = 'azurefunctionsjobhost__';

/**
 * App settings named `AzureFunctionsJobHost__<path>` override host.json values, as the Functions
 * host does (e.g. `AzureFunctionsJobHost__extensions__queues__batchSize=4`). Numbers and
 * booleans written as text are read as such.
 */
export function applyHostOverrides(json: unknown, env: NodeJS.ProcessEnv): unknown {
  const root: Record<string, unknown> = isRecord(json) ? structuredClone(json) : {};
  for (const [name, raw] of Object.entries(env)) {
    if (raw === undefined || !name.toLowerCase().startsWith(OVERRIDE_PREFIX)) continue;
    const path = name.slice(OVERRIDE_PREFIX.length).split('__').filter(Boolean);
    const last = path.pop();
    if (last === undefined) continue;
    let node = root;
    for (const key of path) {
      const existing = Object.keys(node).find((k) => k.toLowerCase() === key.toLowerCase());
      const child = existing === undefined ? undefined : node[existing];
      if (isRecord(child)) node = child;
      else node = node[existing ?? key] = {};
    }
    const existing = Object.keys(node).find((k) => k.toLowerCase() === last.toLowerCase());
    node[existing ?? last] = /^-?\d+$/.test(raw)
      ? Number(raw)
      : raw === 'true' || raw === 'false'
        ? raw === 'true'
        : raw;
  }
  return root;
}

/**
 * Copies local.settings.json `Values` into `env` for every name the environment does not already
 * set (the process environment wins, as with Core Tools). Returns what happened, for the log.
 */
export function loadLocalSettings(
  appDir: string,
  env: NodeJS.ProcessEnv = process.env,
): {
  file: string;
  found: boolean;
  applied: string[];
  overridden: string[];
  localHttpPort?: number;
} {
  const file = join(appDir, 'local.settings.json');
  if (!existsSync(file)) return { file, found: false, applied: [], overridden: [] };
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (!isRecord(json)) throw new ConfigError(`${file} must hold a JSON object.`);
  if (json.IsEncrypted === true) {
    throw new ConfigError(
      `${file} is encrypted (IsEncrypted: true); the local host reads plain values only.`,
    );
  }
  const values = isRecord(json.Values) ? json.Values : {};
  const applied: string[] = [];
  const overridden: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    if (value === null || value === undefined) continue;
    if (env[name] !== undefined) {
      overridden.push(name);
      continue;
    }
    env[name] = String(value);
    applied.push(name);
  }
  const host = isRecord(json.Host) ? json.Host : {};
  const port = Number(host.LocalHttpPort);
  return {
    file,
    found: true,
    applied,
    overridden,
    ...(Number.isInteger(port) && port > 0 ? { localHttpPort: port } : {}),
  };
}

/** Resolves `%SETTING%` expressions in a binding property from the environment. */
export function resolveSettingExpression(
  value: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return value.replace(/%([^%]+)%/g, (_all, name: string) => {
    const resolved = env[name];
    if (resolved === undefined || resolved === '') {
      throw new ConfigError(`The app setting "${name}" (referenced as %${name}%) is not set.`);
    }
    return resolved;
  });
}
