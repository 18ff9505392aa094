import { app } from '@azure/functions';

import { onFirstCall } from '../shared/lazy-handler.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/subscriptions-create.ts.
export const subscriptionsCreate = onFirstCall(
  () => import('./handlers/subscriptions-create.js'),
  'subscriptionsCreate',
);

// POST /api/subscriptions, and the connector's triggers POST /api/subscriptions/<event> (one event
// type each, e.g. optout-changed): one function, the event taken from the route.
app.http('subscriptions-create', {
  methods: ['POST'],
  authLevel: 'function',
  route: 'subscriptions/{event?}',
  handler: subscriptionsCreate,
});
