import type { InvocationContext } from '@azure/functions';

import { idOf, parseOutboxMessage, withId } from '../../shared/outbox/outbox-message.js';
import {
  sendClaimStaleMs,
  sendFromOutbox,
  settleStatus,
} from '../../shared/outbox/outbox-sender.js';
import { maskPhoneNumber } from '../../shared/phone.js';
import { sendRetryPolicy } from '../../shared/queues/queue-policy.js';
import { BACKGROUND_MAX_WAIT_MS, handleQueueMessage } from '../../shared/queues/queue-work.js';
import { sendRulesFrom } from '../../shared/sendmode/api-version.js';
import { getServices } from '../../shared/services.js';

/** One send per message: sent, retried, deferred for the shared limit, held, or parked in <queue>-poison. */
export async function sendQueuedSms(message: unknown, context: InvocationContext) {
  await handleQueueMessage(
    context,
    'send-queued-sms',
    message,
    queueWork,
    async (payload, log, slot) => {
      const queued = parseOutboxMessage(payload);
      log.recipientCount = queued.sms.recipients.length;
      log.recipients = queued.sms.recipients.slice(0, 10).map(maskPhoneNumber);
      const { sendmode, suppression, statuses, pending, deliveries, settings } =
        await getServices();
      log.result = await sendFromOutbox(queued, slot, {
        statuses,
        deliveries,
        sendmode,
        suppression,
        rules: sendRulesFrom(settings),
        log: context,
        claimStaleMs: sendClaimStaleMs(settings, BACKGROUND_MAX_WAIT_MS),
        ...(settings.SEND_MERGE === 'on'
          ? {
              merge: {
                pending,
                windowMs: settings.SEND_MERGE_WINDOW_MS,
                maxRecipients: settings.SEND_MAX_RECIPIENTS_PER_CALL,
                account: settings.SENDMODE_ACCOUNT_NAME,
              },
            }
          : {}),
      });
    },
    {
      // A drop without an id is known by its first Storage message id, retries included.
      prepare: (payload, messageId) => (messageId ? withId(payload, messageId) : payload),
      settling: async (disposition, error, payload) => {
        const id = safeIdOf(payload);
        await settleStatus(id, disposition, error, (await getServices()).statuses);
      },
    },
  );
}

function safeIdOf(payload: unknown): string | undefined {
  try {
    return idOf(payload);
  } catch {
    return undefined; // an unusable id: the message is parked, and there is no status to keep
  }
}

async function queueWork() {
  const { settings, enqueue } = await getServices();
  return { queueName: settings.SEND_QUEUE_NAME, policy: sendRetryPolicy(settings), enqueue };
}
