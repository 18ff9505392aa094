import { app } from '@azure/functions';

import { onFirstCall } from '../shared/lazy-handler.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/purge-expired.ts.
export const purgeExpired = onFirstCall(
  () => import('./handlers/purge-expired.js'),
  'purgeExpired',
);

app.timer('purge-expired', { schedule: '0 17 3 * * *', handler: purgeExpired });
