import type { HttpRequest, InvocationContext } from '@azure/functions';

import { handleHttp, jsonResponse } from '../../shared/http/http.js';
import { openApiFor } from '../../shared/http/openapi.js';

/** The API description (OpenAPI 2.0, for a Power Platform custom connector), for wherever the app runs. */
export async function openApi(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'openapi', async () => {
    const document = openApiFor(request.headers.get('host'), request.url);
    return jsonResponse(200, document, { 'cache-control': 'public, max-age=300' });
  });
}
