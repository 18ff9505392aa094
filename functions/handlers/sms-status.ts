import type { HttpRequest, InvocationContext } from '@azure/functions';
import { NotFoundError } from '../../shared/errors.js';
import { handleHttp } from '../../shared/http/http.js';
import { tokenMatches } from '../../shared/outbox/send-status.js';
import { statusResponse } from '../../shared/outbox/status-response.js';
import { getServices } from '../../shared/services.js';

/** GET /api/sms/{id} (function key): a queued send's status. */
export async function smsStatus(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'sms-status', async () => {
    const { statuses } = await getServices();
    const found = await statuses.get(request.params.id ?? '');
    if (!found) throw notFound();
    return statusResponse(found.status, Date.now());
  });
}

/** GET /api/sms/{id}/status?token=… (no key): the same, for whoever holds the send's token. */
export async function smsStatusByToken(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'sms-status', async () => {
    const { statuses } = await getServices();
    const found = await statuses.get(request.params.id ?? '');
    // A wrong token answers as an unknown id does: the URL reveals nothing it does not grant.
    if (!found || !tokenMatches(found.status, request.query.get('token'))) throw notFound();
    return statusResponse(found.status, Date.now(), request.url);
  });
}

function notFound(): NotFoundError {
  return new NotFoundError('No queued send has this id (or the status URL is not its own).');
}
