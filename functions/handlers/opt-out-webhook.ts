import type { HttpRequest, InvocationContext } from '@azure/functions';
import { MethodNotAllowedError } from '../../shared/errors.js';
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
    const { settings, sendmode, suppression, webhooks, enqueue } = await getServices();
    if (request.method === 'GET' && webhooks.signatureRequired) {
      // A GET's signature covers an empty body: its query string would go unsigned.
      throw new MethodNotAllowedError(
        'Webhook signatures are required, and a signature covers the body only: POST the fields as JSON or a form.',
        ['POST'],
      );
    }
    const rawBody = request.method === 'GET' ? Buffer.alloc(0) : await readBodyBytes(request);
    const delivery = await webhooks.verify(request, rawBody, context);
    try {
      const optOut = parseOptOut(...readOptOutFields(request, rawBody, delivery !== undefined));
      log.recipient = maskPhoneNumber(optOut.mobilenumber);
      const result = await takeOptOut(optOut, {
        suppression,
        sendmode,
        log: context,
        keywords: parseKeywords(settings.OPTOUT_KEYWORDS),
        optInKeywords: parseKeywords(settings.OPTIN_KEYWORDS, DEFAULT_OPTIN_KEYWORDS),
        event: delivery
          ? {
              firstSeenAt: delivery.firstSeenAt,
              firstSignedAt: delivery.firstSignedAt,
              webhookId: delivery.id,
            }
          : { firstSeenAt: arrivedAt },
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
