import { app, type HttpRequest, type InvocationContext } from '@azure/functions';
import { handleHttp, jsonResponse, readBodyBytes } from '../shared/http.js';
import { readOptOutFields } from '../shared/opt-out-request.js';
import { takeOptOut } from '../shared/opt-outs.js';
import { maskPhoneNumber } from '../shared/phone.js';
import { isOptOutKeyword, parseKeywords, parseOptOut } from '../shared/schemas/opt-out.js';
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
      const keywords = parseKeywords(settings.OPTOUT_KEYWORDS);
      if (optOut.hasReplyText && !isOptOutKeyword(optOut.optoutresponse ?? '', keywords)) {
        log.result = 'ignored';
        return jsonResponse(200, {
          status: 'ignored',
          reason: 'The reply is not an opt-out keyword.',
        });
      }
      const { hasReplyText: _hasReplyText, ...optOutRequest } = optOut;
      const result = await takeOptOut(optOutRequest, {
        suppression,
        sendmode,
        log: context,
        enqueueSync: (message) => enqueue(settings.OPTOUT_QUEUE_NAME, message),
      });
      log.result = result;
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
