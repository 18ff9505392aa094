import type { InvocationContext } from '@azure/functions';

import { maskPhoneNumber } from '../../shared/phone.js';
import { importRetryPolicy } from '../../shared/queues/queue-policy.js';
import { handleQueueMessage } from '../../shared/queues/queue-work.js';
import { parseCustomer } from '../../shared/schemas/customer.js';
import { getServices } from '../../shared/services.js';

/** One customer per message: imported, retried, deferred for the shared limit, or parked in <queue>-poison. */
export async function importCustomer(message: unknown, context: InvocationContext) {
  await handleQueueMessage(
    context,
    'import-customer',
    message,
    queueWork,
    async (payload, log, slot) => {
      const customer = parseCustomer(payload);
      log.recipient = maskPhoneNumber(customer.importdata.mobilenumber);
      const { sendmode } = await getServices();
      // Background work: a message that meets the limit is deferred to the slot reserved for it.
      const result = await sendmode.importCustomer(customer, { log: context, ...slot });
      log.upstreamStatusCode = result.statusCode;
    },
  );
}

async function queueWork() {
  const { settings, enqueue } = await getServices();
  return { queueName: settings.IMPORT_QUEUE_NAME, policy: importRetryPolicy(settings), enqueue };
}
