import { app } from '@azure/functions';

import { onFirstCall } from '../shared/lazy-handler.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/check-credits.ts.
export const checkCredits = onFirstCall(
  () => import('./handlers/check-credits.js'),
  'checkCredits',
);

app.http('check-credits', {
  methods: ['GET'],
  authLevel: 'function',
  route: 'credits',
  handler: checkCredits,
});
