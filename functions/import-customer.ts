import { app } from '@azure/functions';

import { onFirstCall } from '../shared/lazy-handler.js';
import { queueNameForRegistration } from '../shared/queue-names.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/import-customer.ts.
export const importCustomer = onFirstCall(
  () => import('./handlers/import-customer.js'),
  'importCustomer',
);

app.storageQueue('import-customer', {
  queueName: queueNameForRegistration('IMPORT_QUEUE_NAME'),
  connection: 'AzureWebJobsStorage',
  handler: importCustomer,
});
