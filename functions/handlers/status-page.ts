import type { HttpRequest, InvocationContext } from '@azure/functions';

import { handleHttp } from '../../shared/http/http.js';
import { STATUS_PAGE_HEADERS, STATUS_PAGE_HTML } from '../../shared/http/status-page.js';

/** The status page: static HTML whose script reads GET /api/status; never calls Sendmode. */
export async function statusPage(_request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'status-page', async () => ({
    status: 200,
    headers: STATUS_PAGE_HEADERS,
    body: STATUS_PAGE_HTML,
  }));
}
