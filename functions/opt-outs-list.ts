import { app } from '@azure/functions';

import { onFirstCall } from '../shared/lazy-handler.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/opt-outs-list.ts.
export const optOutsList = onFirstCall(() => import('./handlers/opt-outs-list.js'), 'optOutsList');

app.http('opt-outs-list', {
  methods: ['GET'],
  authLevel: 'admin',
  route: 'optouts',
  handler: optOutsList,
});
