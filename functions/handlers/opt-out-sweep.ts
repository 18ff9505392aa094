import type { InvocationContext, Timer } from '@azure/functions';

import { sweepPendingOptOuts } from '../../shared/opt-outs/pending-sweep.js';
import { getServices } from '../../shared/services.js';

/** Every few minutes: queues the sync of opt-outs Sendmode has still not been given. */
export async function optOutSweep(_timer: Timer, context: InvocationContext) {
  const started = performance.now();
  const { settings, suppression, enqueue } = await getServices();
  const queued = await sweepPendingOptOuts(
    { suppression, enqueueSync: (request) => enqueue(settings.OPT_OUT_QUEUE_NAME, request) },
    Date.now(),
  );
  const durationMs = Math.round(performance.now() - started);
  context.info(JSON.stringify({ operation: 'opt-out-sweep', outcome: 'done', queued, durationMs }));
}
