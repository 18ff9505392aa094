import { app } from '@azure/functions';

import { onFirstCall } from '../shared/lazy-handler.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/status-page.ts.
export const statusPage = onFirstCall(() => import('./handlers/status-page.js'), 'statusPage');

app.http('status-page', {
  methods: ['GET'],
  authLevel: 'function',
  route: 'status/page',
  handler: statusPage,
});
