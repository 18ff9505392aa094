import { app } from '@azure/functions';

import { onFirstCall } from '../shared/lazy-handler.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/opt-out-webhook.ts.
export const optOutWebhook = onFirstCall(
  () => import('./handlers/opt-out-webhook.js'),
  'optOutWebhook',
);

app.http('opt-out-webhook', {
  methods: ['POST', 'GET'],
  authLevel: 'function',
  route: 'optout',
  handler: optOutWebhook,
});
