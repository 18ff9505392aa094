import type { InvocationContext } from '@azure/functions';

import { eventRetryPolicy } from '../../shared/queues/queue-policy.js';
import { handleQueueMessage } from '../../shared/queues/queue-work.js';
import { getServices } from '../../shared/services.js';
import { handleEventWork } from '../../shared/subscriptions/delivery.js';
import { parseEventWork } from '../../shared/subscriptions/event-messages.js';

/** An event, fanned out to its subscriptions; or one delivery: made, retried, or parked in <queue>-poison. */
export async function deliverEvents(message: unknown, context: InvocationContext) {
  await handleQueueMessage(context, 'deliver-events', message, queueWork, async (payload, log) => {
    const work = parseEventWork(payload);
    const { subscriptions, enqueue, settings } = await getServices();
    await handleEventWork(
      work,
      {
        subscriptions,
        enqueue: (delivery) => enqueue(settings.EVENT_QUEUE_NAME, delivery),
        log: context,
      },
      log,
    );
  });
}

async function queueWork() {
  const { settings, enqueue } = await getServices();
  return { queueName: settings.EVENT_QUEUE_NAME, policy: eventRetryPolicy(settings), enqueue };
}
