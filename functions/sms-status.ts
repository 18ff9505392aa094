import { app } from '@azure/functions';

import { onFirstCall } from '../shared/lazy-handler.js';

// Registered at start-up, loaded on first call (cold start): functions/handlers/sms-status.ts.
export const smsStatus = onFirstCall(() => import('./handlers/sms-status.js'), 'smsStatus');
export const smsStatusByToken = onFirstCall(
  () => import('./handlers/sms-status.js'),
  'smsStatusByToken',
);

// With a function key: any send by its id (queue producers, the connector, operators).
app.http('sms-status', {
  methods: ['GET'],
  authLevel: 'function',
  route: 'sms/{id}',
  handler: smsStatus,
});

// The status URL a queued send was answered with: no key, the send's own token instead.
app.http('sms-status-by-token', {
  methods: ['GET'],
  authLevel: 'anonymous',
  route: 'sms/{id}/status',
  handler: smsStatusByToken,
});
