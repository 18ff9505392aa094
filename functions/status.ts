import { app, type HttpRequest, type InvocationContext } from '@azure/functions';
import { appStatus } from '../shared/app-status.js';
import { handleHttp, jsonResponse } from '../shared/http/http.js';
import { getServices } from '../shared/services.js';

/** The shared limit's window and the queue depths; never calls Sendmode. */
export async function status(_request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'status', async () => {
    const body = await appStatus(await getServices());
    return jsonResponse(200, body, { 'cache-control': 'no-store' });
  });
}

app.http('status', { methods: ['GET'], authLevel: 'function', route: 'status', handler: status });
