import { app } from '@azure/functions';
import { onFirstCall } from '../shared/lazy-handler.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/optouts-get.ts.
export const optOutsGet = onFirstCall(() => import('./handlers/optouts-get.js'), 'optOutsGet');

app.http('optouts-get', {
  methods: ['GET'],
  authLevel: 'admin',
  route: 'optouts/{number}',
  handler: optOutsGet,
});
