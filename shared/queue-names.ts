/**
 * The queue names a trigger registers with, read when its module loads. Without zod, so the
 * registrations load nothing heavy at cold start; shared/settings.ts validates the same settings
 * with the same pattern and defaults, and reports an invalid one.
 */

import { resolveAliases } from './setting-aliases.js';

/** Storage queue names: 3-63 lower-case letters, digits and single dashes; `-poison` is appended. */
export const QUEUE_NAME_PATTERN = /^[a-z0-9](?!.*--)[a-z0-9-]{1,48}[a-z0-9]$/;

export const DEFAULT_QUEUE_NAMES = {
  IMPORT_QUEUE_NAME: 'customer-imports',
  OPT_OUT_QUEUE_NAME: 'optout-sync',
  SEND_QUEUE_NAME: 'sms-outbox',
  EVENT_QUEUE_NAME: 'event-deliveries',
} as const;

const POISON_SUFFIX = '-poison';

/** Where the host and this app park a queue's messages that cannot be handled. */
export function poisonQueueOf(queueName: string): string {
  return `${queueName}${POISON_SUFFIX}`;
}

/** The main queue a poison queue belongs to (`customer-imports-poison` → `customer-imports`). */
export function mainQueueOf(name: string): string {
  return name.endsWith(POISON_SUFFIX) ? name.slice(0, -POISON_SUFFIX.length) : name;
}

export type QueueNameSetting = keyof typeof DEFAULT_QUEUE_NAMES;

/** The configured queue name when valid, else its default (getSettings names the invalid one). */
export function queueNameForRegistration(name: QueueNameSetting): string {
  // Old names as settings.ts reads them (a conflict is reported there; the new name wins here).
  const value = resolveAliases(process.env).env[name];
  return value !== undefined && QUEUE_NAME_PATTERN.test(value) ? value : DEFAULT_QUEUE_NAMES[name];
}
