import { app } from '@azure/functions';

import { onFirstCall } from '../shared/lazy-handler.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/delivery-reports.ts.
export const deliveryReports = onFirstCall(
  () => import('./handlers/delivery-reports.js'),
  'deliveryReports',
);

// Sendmode's account setting "Post Delivery Reports to URL" calls this, the key in the URL
// (`?code=`): Sendmode cannot set headers.
app.http('delivery-reports', {
  methods: ['GET', 'POST'],
  authLevel: 'function',
  route: 'delivery-reports',
  handler: deliveryReports,
});
