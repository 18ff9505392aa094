import { app, type HttpRequest, type InvocationContext } from '@azure/functions';
import { handleHttp, jsonResponse } from '../shared/http.js';
import { buildOpenApi } from '../shared/openapi.js';

/** A Host header fit for Swagger's `host`: a name or address and an optional port. */
const HOST = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
const LOOPBACK = /^(?:localhost|127\.0\.0\.1|\[::1\])(?::\d+)?$/i;

/** The API description (OpenAPI 2.0, for a Power Platform custom connector), for wherever the app runs. */
export async function openApi(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'openapi', async () => {
    const header = request.headers.get('host')?.trim();
    const host = header && HOST.test(header) ? header : undefined;
    const local = host !== undefined && LOOPBACK.test(host) && request.url.startsWith('http:');
    const document = buildOpenApi({
      ...(host !== undefined ? { host } : {}),
      schemes: local ? ['http'] : ['https'],
    });
    return jsonResponse(200, document, { 'cache-control': 'public, max-age=300' });
  });
}

app.http('openapi', {
  methods: ['GET'],
  authLevel: 'anonymous',
  route: 'openapi.json',
  handler: openApi,
});
