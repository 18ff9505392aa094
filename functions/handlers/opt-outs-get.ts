import type { HttpRequest, InvocationContext } from '@azure/functions';

import { handleHttp, jsonResponse } from '../../shared/http/http.js';
import { lookUp } from '../../shared/opt-outs/opt-out-admin.js';
import { parseLookUpQuery, parseNumberParam } from '../../shared/opt-outs/opt-out-admin-request.js';
import { maskPhoneNumber } from '../../shared/phone.js';
import { getServices } from '../../shared/services.js';

/**
 * One number: suppressed or not, since when, and its audit trail: the newest changes, older ones
 * a page at a time (`trailContinuationToken`).
 */
export async function optOutsGet(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'opt-outs-get', async (log) => {
    const number = parseNumberParam(request.params.number);
    log.recipient = maskPhoneNumber(number);
    const query = parseLookUpQuery(request.query);
    const { suppression } = await getServices();
    const answer = await lookUp(suppression, number, query);
    log.count = answer.trail.length;
    return jsonResponse(200, answer);
  });
}
