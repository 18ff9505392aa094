import type { HttpRequest, InvocationContext } from '@azure/functions';

import { handleHttp, jsonResponse, readJsonBody } from '../../shared/http/http.js';
import { parseCustomerBatch } from '../../shared/schemas/customer.js';
import { assertOffered } from '../../shared/sendmode/api-version.js';
import { getServices } from '../../shared/services.js';
import { getSettings } from '../../shared/settings.js';

/** For callers that cannot reach the queue (Power Automate): validate, then enqueue one message per customer. */
export async function enqueueCustomers(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'enqueue-customers', async (log) => {
    // Queue nothing that could only end in poison: no import call in this API generation (501).
    assertOffered(getSettings().SENDMODE_API_VERSION, 'import');
    const customers = parseCustomerBatch(await readJsonBody(request));
    log.customerCount = customers.length;
    const { settings, enqueue } = await getServices();
    const messageIds: string[] = [];
    for (const customer of customers) {
      messageIds.push(await enqueue(settings.IMPORT_QUEUE_NAME, customer));
    }
    return jsonResponse(202, { status: 'queued', queue: settings.IMPORT_QUEUE_NAME, messageIds });
  });
}
