import type { HttpRequest, InvocationContext } from '@azure/functions';
import { handleHttp, jsonResponse, readBodyBytes } from '../../shared/http/http.js';
import { readOptOutFields } from '../../shared/optouts/opt-out-request.js';
import { optOutAnswer, takeOptOut } from '../../shared/optouts/opt-outs.js';
import { maskPhoneNumber } from '../../shared/phone.js';
import {
  DEFAULT_OPTIN_KEYWORDS,
  parseKeywords,
  parseOptOut,
} from '../../shared/schemas/opt-out.js';
import { getServices } from '../../shared/services.js';

/** Records an opt-out (or opt-in) from any webhook shape; 200 when done, 202 when queued. */
export async function optOutWebhook(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'opt-out-webhook', async (log) => {
    const arrivedAt = Date.now();
    const rawBody = request.method === 'GET' ? Buffer.alloc(0) : await readBodyBytes(request);
    const { settings, sendmode, suppression, webhooks, enqueue } = await getServices();
    const delivery = await webhooks.verify(request, rawBody, context);
    try {
      const optOut = parseOptOut(...readOptOutFields(request, rawBody));
      log.recipient = maskPhoneNumber(optOut.mobilenumber);
      const result = await takeOptOut(optOut, {
        suppression,
        sendmode,
        log: context,
        keywords: parseKeywords(settings.OPTOUT_KEYWORDS),
        optInKeywords: parseKeywords(settings.OPTIN_KEYWORDS, DEFAULT_OPTIN_KEYWORDS),
        event: delivery
          ? { eventAt: delivery.timestampSeconds * 1000, webhookId: delivery.id }
          : { eventAt: arrivedAt },
        enqueueSync: (message) => enqueue(settings.OPTOUT_QUEUE_NAME, message),
      });
      log.result = result;
      if (delivery) await webhooks.complete(delivery.id, context);
      return jsonResponse(
        result === 'queued' ? 202 : 200,
        optOutAnswer(result, settings.SENDMODE_API_VERSION),
      );
    } catch (error) {
      if (delivery) await webhooks.release(delivery.id, context);
      throw error;
    }
  });
}
