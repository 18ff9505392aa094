import type { InvocationContext } from '@azure/functions';

import { syncOptOut } from '../../shared/opt-outs/opt-outs.js';
import { maskPhoneNumber } from '../../shared/phone.js';
import { optOutRetryPolicy } from '../../shared/queues/queue-policy.js';
import { handleQueueMessage } from '../../shared/queues/queue-work.js';
import { parseOptOut } from '../../shared/schemas/opt-out.js';
import { getServices } from '../../shared/services.js';

/** Opt-outs Sendmode could not take at once: retried (deferred on the limit) until it takes them. */
export async function optOutSync(message: unknown, context: InvocationContext) {
  await handleQueueMessage(
    context,
    'opt-out-sync',
    message,
    queueWork,
    async (payload, log, slot) => {
      const { hasReplyText: _hasReplyText, ...optOut } = parseOptOut(
        typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>) : {},
      );
      log.recipient = maskPhoneNumber(optOut.mobilenumber);
      const { sendmode, suppression } = await getServices();
      log.result = await syncOptOut(optOut, { sendmode, suppression, log: context }, slot);
    },
  );
}

async function queueWork() {
  const { settings, enqueue } = await getServices();
  return { queueName: settings.OPT_OUT_QUEUE_NAME, policy: optOutRetryPolicy(settings), enqueue };
}
