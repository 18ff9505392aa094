import type { HttpRequest, InvocationContext } from '@azure/functions';

import { deliveryOfSend } from '../../shared/delivery/delivery-view.js';
import { NotFoundError } from '../../shared/errors.js';
import { handleHttp } from '../../shared/http/http.js';
import { type SendStatus, tokenMatches } from '../../shared/outbox/send-status.js';
import { statusResponse } from '../../shared/outbox/status-response.js';
import { getServices, type Services } from '../../shared/services.js';

/** GET /api/sms/{id} (function key): a send's status, and its delivery once sent. */
export async function smsStatus(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'sms-status', async () => {
    const services = await getServices();
    const found = await services.statuses.get(request.params.id ?? '');
    if (!found) throw notFound();
    return answer(found.status, services);
  });
}

/** GET /api/sms/{id}/status?token=… (no key): the same, for whoever holds the send's token. */
export async function smsStatusByToken(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'sms-status', async () => {
    const services = await getServices();
    const found = await services.statuses.get(request.params.id ?? '');
    // A wrong token answers as an unknown id does: the URL reveals nothing it does not grant.
    if (!found || !tokenMatches(found.status, request.query.get('token'))) throw notFound();
    return answer(found.status, services, request.url);
  });
}

async function answer(status: SendStatus, services: Services, location?: string) {
  const { settings, deliveries } = services;
  const now = Date.now();
  const expectation = {
    expected: settings.DELIVERY_REPORTS === 'on',
    afterMs: settings.DELIVERY_REPORT_EXPECTED_MINUTES * 60_000,
  };
  const delivery = await deliveryOfSend(status, deliveries, expectation, now);
  return statusResponse(status, now, location, delivery);
}

function notFound(): NotFoundError {
  return new NotFoundError('No send has this id (or the status URL is not its own).');
}
