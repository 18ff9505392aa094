import { app } from '@azure/functions';
import { onFirstCall } from '../shared/lazy-handler.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/optouts-list.ts.
export const optOutsList = onFirstCall(() => import('./handlers/optouts-list.js'), 'optOutsList');

app.http('optouts-list', {
  methods: ['GET'],
  authLevel: 'admin',
  route: 'optouts',
  handler: optOutsList,
});
