import { app } from '@azure/functions';

import { onFirstCall } from '../shared/lazy-handler.js';
import { queueNameForRegistration } from '../shared/queue-names.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/opt-out-sync.ts.
export const optOutSync = onFirstCall(() => import('./handlers/opt-out-sync.js'), 'optOutSync');

app.storageQueue('opt-out-sync', {
  queueName: queueNameForRegistration('OPT_OUT_QUEUE_NAME'),
  connection: 'AzureWebJobsStorage',
  handler: optOutSync,
});
