import type { HttpRequest, InvocationContext } from '@azure/functions';

import { handleHttp, jsonResponse } from '../../shared/http/http.js';
import { removeFromList } from '../../shared/opt-outs/opt-out-admin.js';
import { parseNumberParam, readRemoval } from '../../shared/opt-outs/opt-out-admin-request.js';
import { maskPhoneNumber } from '../../shared/phone.js';
import { getServices } from '../../shared/services.js';
import { getSettings } from '../../shared/settings.js';

/**
 * An operator takes a number off the suppression list, saying why; recorded in its trail with who
 * (see readRemoval: the principal header is believed only with APP_SERVICE_AUTH_ENABLED).
 */
export async function optOutsRemove(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'opt-outs-remove', async (log) => {
    const number = parseNumberParam(request.params.number);
    log.recipient = maskPhoneNumber(number);
    // x-ms-client-principal-name names who removed it only when App Service authentication set it.
    const removal = await readRemoval(request, {
      trustPrincipalHeader: getSettings().APP_SERVICE_AUTH_ENABLED,
    });
    const { suppression } = await getServices();
    return jsonResponse(200, await removeFromList(suppression, number, removal));
  });
}
