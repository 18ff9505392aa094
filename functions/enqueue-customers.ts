import { app } from '@azure/functions';

import { onFirstCall } from '../shared/lazy-handler.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/enqueue-customers.ts.
export const enqueueCustomers = onFirstCall(
  () => import('./handlers/enqueue-customers.js'),
  'enqueueCustomers',
);

app.http('enqueue-customers', {
  methods: ['POST'],
  authLevel: 'function',
  route: 'customers',
  handler: enqueueCustomers,
});
