import { app } from '@azure/functions';

import { onFirstCall } from '../shared/lazy-handler.js';
import { queueNameForRegistration } from '../shared/queue-names.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/send-queued-sms.ts.
export const sendQueuedSms = onFirstCall(
  () => import('./handlers/send-queued-sms.js'),
  'sendQueuedSms',
);

app.storageQueue('send-queued-sms', {
  queueName: queueNameForRegistration('SEND_QUEUE_NAME'),
  connection: 'AzureWebJobsStorage',
  handler: sendQueuedSms,
});
