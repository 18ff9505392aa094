import { app } from '@azure/functions';

import { onFirstCall } from '../shared/lazy-handler.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/status.ts.
export const status = onFirstCall(() => import('./handlers/status.js'), 'status');

app.http('status', { methods: ['GET'], authLevel: 'function', route: 'status', handler: status });
