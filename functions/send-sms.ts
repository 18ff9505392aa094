import { app } from '@azure/functions';

import { onFirstCall } from '../shared/lazy-handler.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/send-sms.ts.
export const sendSms = onFirstCall(() => import('./handlers/send-sms.js'), 'sendSms');

app.http('send-sms', { methods: ['POST'], authLevel: 'function', route: 'sms', handler: sendSms });
