import { app } from '@azure/functions';

import { onFirstCall } from '../shared/lazy-handler.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/opt-outs-get.ts.
export const optOutsGet = onFirstCall(() => import('./handlers/opt-outs-get.js'), 'optOutsGet');

app.http('opt-outs-get', {
  methods: ['GET'],
  authLevel: 'admin',
  route: 'optouts/{number}',
  handler: optOutsGet,
});
