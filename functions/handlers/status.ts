import type { HttpRequest, InvocationContext } from '@azure/functions';
import { appStatus } from '../../shared/app-status.js';
import { handleHttp, jsonResponse } from '../../shared/http/http.js';
import { parseRecentOptOutsParam } from '../../shared/optouts/recent-optouts.js';
import { getServices } from '../../shared/services.js';

/** The shared limit's window and the queue depths (and, if asked, recent opt-outs); never calls Sendmode. */
export async function status(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'status', async () => {
    const recent = parseRecentOptOutsParam(request.query.get('recentOptOuts'));
    const services = await getServices();
    const body = await appStatus(services);
    const optOuts =
      recent > 0 ? { recentOptOuts: await services.suppression.recentOptOuts(recent) } : {};
    return jsonResponse(200, { ...body, ...optOuts }, { 'cache-control': 'no-store' });
  });
}
