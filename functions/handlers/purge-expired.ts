import type { InvocationContext, Timer } from '@azure/functions';

import { getServices } from '../../shared/services.js';

/** Daily: deletes expired idempotency outcomes, old webhook ids and expired send statuses (Table Storage has no TTL). */
export async function purgeExpired(_timer: Timer, context: InvocationContext) {
  const started = performance.now();
  const deleted = await (await getServices()).purgeExpired(Date.now());
  const durationMs = Math.round(performance.now() - started);
  context.info(
    JSON.stringify({ operation: 'purge-expired', outcome: 'done', deleted, durationMs }),
  );
}
