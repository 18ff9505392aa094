import { app } from '@azure/functions';

import { onFirstCall } from '../shared/lazy-handler.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/opt-outs-remove.ts.
export const optOutsRemove = onFirstCall(
  () => import('./handlers/opt-outs-remove.js'),
  'optOutsRemove',
);

app.http('opt-outs-remove', {
  methods: ['DELETE'],
  authLevel: 'admin',
  route: 'optouts/{number}',
  handler: optOutsRemove,
});
