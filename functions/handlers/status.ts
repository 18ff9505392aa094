import type { HttpRequest, InvocationContext } from '@azure/functions';

import { appStatus, statusQueueNames } from '../../shared/app-status.js';
import { parseHistoryParam } from '../../shared/history/history-store.js';
import { handleHttp, jsonResponse } from '../../shared/http/http.js';
import { parseRecentOptOutsParam } from '../../shared/opt-outs/recent-opt-outs.js';
import { getServices } from '../../shared/services.js';

/**
 * The shared limit's window and the queue depths (and, if asked, recent opt-outs and the last
 * `history` minutes, every instance's together); never calls Sendmode.
 */
export async function status(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'status', async () => {
    const recent = parseRecentOptOutsParam(request.query.get('recentOptOuts'));
    const minutes = parseHistoryParam(request.query.get('history'));
    const services = await getServices();
    const [body, optOuts, history] = await Promise.all([
      appStatus(services),
      recent > 0 ? services.suppression.recentOptOuts(recent) : undefined,
      minutes === undefined
        ? undefined
        : services.history.lastMinutes(minutes, Date.now(), statusQueueNames(services.settings)),
    ]);
    return jsonResponse(
      200,
      {
        ...body,
        ...(optOuts ? { recentOptOuts: optOuts } : {}),
        ...(history ? { history } : {}),
      },
      { 'cache-control': 'no-store' },
    );
  });
}
