import { app } from '@azure/functions';

import { onFirstCall } from '../shared/lazy-handler.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/opt-out-sweep.ts.
export const optOutSweep = onFirstCall(() => import('./handlers/opt-out-sweep.js'), 'optOutSweep');

app.timer('opt-out-sweep', { schedule: '0 */5 * * * *', handler: optOutSweep });
