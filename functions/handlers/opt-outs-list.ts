import type { HttpRequest, InvocationContext } from '@azure/functions';

import { handleHttp, jsonResponse } from '../../shared/http/http.js';
import { listPage } from '../../shared/opt-outs/opt-out-admin.js';
import { parseListQuery } from '../../shared/opt-outs/opt-out-admin-request.js';
import { csvExport } from '../../shared/opt-outs/opt-out-export.js';
import { getServices } from '../../shared/services.js';

/** The suppressed numbers, a page at a time (JSON), or all of them as a streamed CSV export. */
export async function optOutsList(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'opt-outs-list', async (log) => {
    const query = parseListQuery(request.query);
    const { suppression } = await getServices();
    log.format = query.format;
    if (query.format === 'csv') {
      return {
        status: 200,
        headers: {
          'content-type': 'text/csv; charset=utf-8',
          'content-disposition': 'attachment; filename="optouts.csv"',
        },
        body: await csvExport(suppression, query),
      };
    }
    const page = await listPage(suppression, query);
    log.count = page.items.length;
    return jsonResponse(200, page);
  });
}
