import { app } from '@azure/functions';
import { onFirstCall } from '../shared/lazy-handler.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/optouts-remove.ts.
export const optOutsRemove = onFirstCall(
  () => import('./handlers/optouts-remove.js'),
  'optOutsRemove',
);

app.http('optouts-remove', {
  methods: ['DELETE'],
  authLevel: 'admin',
  route: 'optouts/{number}',
  handler: optOutsRemove,
});
