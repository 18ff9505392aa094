import type { HttpRequest, InvocationContext } from '@azure/functions';

import { handleHttp, jsonResponse } from '../../shared/http/http.js';
import { getServices } from '../../shared/services.js';

export async function checkCredits(_request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'check-credits', async (log) => {
    const { sendmode, settings } = await getServices();
    const result = await sendmode.credits({
      log: context,
      maxWaitMs: settings.RATE_LIMIT_MAX_WAIT_SECONDS * 1000,
      workClass: 'interactive',
    });
    log.upstreamStatusCode = result.statusCode;
    return jsonResponse(200, result);
  });
}
