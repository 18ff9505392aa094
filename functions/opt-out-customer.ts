import { app } from '@azure/functions';

import { onFirstCall } from '../shared/lazy-handler.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/opt-out-webhook.ts.
export const optOutFromFlow = onFirstCall(
  () => import('./handlers/opt-out-webhook.js'),
  'optOutFromFlow',
);

// The connector's Optout Customer: a flow's opt-out, authorised by the function key alone (a flow
// cannot sign a webhook delivery, which /api/optout requires when a signing secret is set).
app.http('opt-out-customer', {
  methods: ['POST'],
  authLevel: 'function',
  route: 'optouts',
  handler: optOutFromFlow,
});
