import { app, type HttpRequest, type InvocationContext } from '@azure/functions';
import { handleHttp, jsonResponse, readBodyBytes } from '../shared/http/http.js';
import { readOptOutFields } from '../shared/optouts/opt-out-request.js';
import { takeOptOut } from '../shared/optouts/opt-outs.js';
import { maskPhoneNumber } from '../shared/phone.js';
import { parseKeywords, parseOptOut } from '../shared/schemas/opt-out.js';
import { getServices } from '../shared/services.js';

/** Records an opt-out from any webhook shape; 200 when Sendmode took it, 202 when it is queued. */
export async function optOutWebhook(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'opt-out-webhook', async (log) => {
    const rawBody = request.method === 'GET' ? Buffer.alloc(0) : await readBodyBytes(request);
    const { settings, sendmode, suppression, webhooks, enqueue } = await getServices();
    const webhookId = await webhooks.verify(request, rawBody, context);
    try {
      const optOut = parseOptOut(...readOptOutFields(request, rawBody));
      log.recipient = maskPhoneNumber(optOut.mobilenumber);
      const result = await takeOptOut(optOut, {
        suppression,
        sendmode,
        log: context,
        keywords: parseKeywords(settings.OPTOUT_KEYWORDS),
        enqueueSync: (message) => enqueue(settings.OPTOUT_QUEUE_NAME, message),
      });
      log.result = result;
      if (webhookId) await webhooks.complete(webhookId, context);
      return jsonResponse(result === 'queued' ? 202 : 200, { status: result });
    } catch (error) {
      if (webhookId) await webhooks.release(webhookId, context);
      throw error;
    }
  });
}

app.http('opt-out-webhook', {
  methods: ['POST', 'GET'],
  authLevel: 'function',
  route: 'optout',
  handler: optOutWebhook,
});
