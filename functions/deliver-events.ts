import { app } from '@azure/functions';

import { onFirstCall } from '../shared/lazy-handler.js';
import { queueNameForRegistration } from '../shared/queue-names.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/deliver-events.ts.
export const deliverEvents = onFirstCall(
  () => import('./handlers/deliver-events.js'),
  'deliverEvents',
);

app.storageQueue('deliver-events', {
  queueName: queueNameForRegistration('EVENT_QUEUE_NAME'),
  connection: 'AzureWebJobsStorage',
  handler: deliverEvents,
});
