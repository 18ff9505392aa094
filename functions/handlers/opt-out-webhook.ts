import type { HttpRequest, InvocationContext } from '@azure/functions';

import { MethodNotAllowedError } from '../../shared/errors.js';
import {
  handleHttp,
  type InvocationLog,
  jsonResponse,
  readBodyBytes,
} from '../../shared/http/http.js';
import type { DeliveryEvent } from '../../shared/opt-outs/event-order.js';
import { readOptOutFields } from '../../shared/opt-outs/opt-out-request.js';
import { optOutAnswer, takeOptOut } from '../../shared/opt-outs/opt-outs.js';
import { maskPhoneNumber } from '../../shared/phone.js';
import { parseOptOut } from '../../shared/schemas/opt-out.js';
import { DEFAULT_OPT_IN_KEYWORDS, parseKeywords } from '../../shared/schemas/opt-out-keywords.js';
import { getServices, type Services } from '../../shared/services.js';

/** Records an opt-out (or opt-in) from any webhook shape; 200 when done, 202 when queued. */
export async function optOutWebhook(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'opt-out-webhook', async (log) => {
    const arrivedAt = Date.now();
    const services = await getServices();
    const { webhooks } = services;
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
      const fields = readOptOutFields(request, rawBody, delivery !== undefined);
      const event = delivery
        ? {
            firstSeenAt: delivery.firstSeenAt,
            firstSignedAt: delivery.firstSignedAt,
            webhookId: delivery.id,
          }
        : { firstSeenAt: arrivedAt };
      const response = await take(fields, event, services, context, log);
      if (delivery) await webhooks.complete(delivery.id, context);
      return response;
    } catch (error) {
      if (delivery) await webhooks.release(delivery.id, context);
      throw error;
    }
  });
}

/**
 * POST /api/optouts: the connector's Optout Customer, for flows. The function key is the whole
 * authorisation, as for a send (a flow cannot sign a webhook delivery): the body is taken as the
 * webhook takes an unsigned one, the query string never read.
 */
export async function optOutFromFlow(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'opt-out-customer', async (log) => {
    const arrivedAt = Date.now();
    const services = await getServices();
    const fields = readOptOutFields(request, await readBodyBytes(request), true);
    return take(fields, { firstSeenAt: arrivedAt }, services, context, log);
  });
}

async function take(
  fields: Record<string, unknown>[],
  event: DeliveryEvent,
  { settings, sendmode, suppression, enqueue }: Services,
  context: InvocationContext,
  log: InvocationLog,
) {
  const optOut = parseOptOut(...fields);
  log.recipient = maskPhoneNumber(optOut.mobilenumber);
  const result = await takeOptOut(optOut, {
    suppression,
    sendmode,
    log: context,
    keywords: parseKeywords(settings.OPT_OUT_KEYWORDS),
    optInKeywords: parseKeywords(settings.OPT_IN_KEYWORDS, DEFAULT_OPT_IN_KEYWORDS),
    event,
    enqueueSync: (message) => enqueue(settings.OPT_OUT_QUEUE_NAME, message),
  });
  log.result = result;
  return jsonResponse(
    result === 'queued' ? 202 : 200,
    optOutAnswer(result, settings.SENDMODE_API_VERSION),
  );
}
