import { app } from '@azure/functions';

import { onFirstCall } from '../shared/lazy-handler.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/subscriptions-delete.ts.
export const subscriptionsDelete = onFirstCall(
  () => import('./handlers/subscriptions-delete.js'),
  'subscriptionsDelete',
);

// The Location a subscription was answered with: what a trigger's removal calls.
app.http('subscriptions-delete', {
  methods: ['DELETE'],
  authLevel: 'function',
  route: 'subscriptions/{id}',
  handler: subscriptionsDelete,
});
