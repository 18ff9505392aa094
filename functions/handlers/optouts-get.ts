import type { HttpRequest, InvocationContext } from '@azure/functions';
import { handleHttp, jsonResponse } from '../../shared/http/http.js';
import { lookUp, parseNumberParam } from '../../shared/optouts/opt-out-admin.js';
import { maskPhoneNumber } from '../../shared/phone.js';
import { getServices } from '../../shared/services.js';

/** One number: suppressed or not, since when, and its audit trail. */
export async function optOutsGet(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'optouts-get', async (log) => {
    const number = parseNumberParam(request.params.number);
    log.recipient = maskPhoneNumber(number);
    const { suppression } = await getServices();
    return jsonResponse(200, await lookUp(suppression, number));
  });
}
