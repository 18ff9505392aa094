/**
 * The queue settings the Functions host applies (host.json `extensions.queues`), read once so
 * messages this app enqueues are encoded as the host will decode them, and retries agree with
 * the host's `maxDequeueCount`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface QueueHostConfig {
  messageEncoding: 'base64' | 'none';
  maxDequeueCount: number;
}

const DEFAULTS: QueueHostConfig = { messageEncoding: 'base64', maxDequeueCount: 5 };

let cached: QueueHostConfig | undefined;

/** host.json sits at the app root: above `shared/queues/` in source, above `dist/shared/queues/` when built. */
function findHostJson(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 4; depth += 1) {
    const candidate = join(dir, 'host.json');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return undefined;
}

export function queueHostConfig(): QueueHostConfig {
  if (cached) return cached;
  const path = findHostJson();
  const queues = path
    ? ((
        JSON.parse(readFileSync(path, 'utf8')) as {
          extensions?: { queues?: Record<string, unknown> };
        }
      ).extensions?.queues ?? {})
    : {};
  cached = {
    messageEncoding: queues.messageEncoding === 'none' ? 'none' : DEFAULTS.messageEncoding,
    maxDequeueCount:
      typeof queues.maxDequeueCount === 'number'
        ? queues.maxDequeueCount
        : DEFAULTS.maxDequeueCount,
  };
  return cached;
}
