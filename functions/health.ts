import { app } from '@azure/functions';

import { onFirstCall } from '../shared/lazy-handler.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/health.ts.
export const health = onFirstCall(() => import('./handlers/health.js'), 'health');

app.http('health', { methods: ['GET'], authLevel: 'anonymous', route: 'health', handler: health });
