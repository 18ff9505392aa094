import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';

import { planCall } from '../../shared/delivery/delivery-store.js';
import { handleHttp, jsonResponse, readJsonBody } from '../../shared/http/http.js';
import { fingerprintOf, isReplay, readIdempotencyKey } from '../../shared/http/idempotency-key.js';
import { prefers, RESPOND_ASYNC } from '../../shared/http/prefer.js';
import { newSendId, queueSend } from '../../shared/outbox/async-send.js';
import { maskPhoneNumber } from '../../shared/phone.js';
import { parseSendSms, type SendSmsInput } from '../../shared/schemas/send-sms.js';
import { prepareSend, sendRulesFrom } from '../../shared/sendmode/api-version.js';
import { sendSmsRespectingOptOuts } from '../../shared/sendmode/sms-sender.js';
import { getServices, type Services } from '../../shared/services.js';

/**
 * Sends at once (`200` with Sendmode's answer), or, with `Prefer: respond-async`, queues the send
 * and answers `202` with where to look (shared/outbox/async-send.ts). Both validate the same way,
 * so every 4xx of a synchronous send comes before anything is queued.
 */
export async function sendSms(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'send-sms', async (log) => {
    const idempotencyKey = readIdempotencyKey(request);
    const sms = parseSendSms(await readJsonBody(request));
    log.recipientCount = sms.recipients.length;
    log.recipients = sms.recipients.slice(0, 10).map(maskPhoneNumber);
    const services = await getServices();
    const queued = prefers(request, RESPOND_ASYNC);
    log.respondAsync = queued;
    const send = queued
      ? () => queueValidated(sms, new URL(request.url).origin, services)
      : () => sendNow(sms, services, context, log);
    if (!idempotencyKey) return send();
    const response = await services.idempotency.run(
      idempotencyKey,
      fingerprintOf(sms),
      send,
      context,
      context.invocationId,
    );
    log.idempotentReplay = isReplay(response);
    return response;
  });
}

/**
 * Sends now. The send gets an id and a status, as a queued one does, so `GET /api/sms/{id}`
 * shows it and its delivery reports; its call carries the reference they will name.
 */
async function sendNow(
  sms: SendSmsInput,
  { sendmode, suppression, settings, statuses, deliveries }: Services,
  context: InvocationContext,
  log: Record<string, unknown>,
): Promise<HttpResponseInit> {
  const startedAt = Date.now();
  const id = newSendId();
  const sends = [{ id, recipients: sms.recipients }];
  const plan = planCall(sms.customerid, sends, id, settings.SENDMODE_API_VERSION, startedAt);
  const result = await sendSmsRespectingOptOuts(sms, {
    sendmode,
    suppression,
    log: context,
    maxWaitMs: settings.RATE_LIMIT_MAX_WAIT_SECONDS * 1000,
    rules: sendRulesFrom(settings),
    delivery: { store: deliveries, plan },
  });
  log.upstreamStatusCode = result.statusCode;
  log.skippedCount = result.skippedRecipients?.length ?? 0;
  const finishedAt = Date.now();
  const answer = { ...result, id, sentAt: new Date(finishedAt).toISOString() };
  const body = JSON.stringify(answer);
  await statuses.create(
    {
      id,
      state: 'sent',
      queuedAt: startedAt,
      expectedAt: startedAt,
      finishedAt,
      answer: { status: 200, body },
      reference: plan.reference,
    },
    finishedAt,
  );
  return jsonResponse(200, answer);
}

async function queueValidated(
  sms: SendSmsInput,
  origin: string,
  { settings, statuses, enqueue, outboxExpectedAt }: Services,
): Promise<HttpResponseInit> {
  // What the API generation refuses is refused now, as a synchronous send would (v3 scheduling
  // excepted: the outbox holds those until their time).
  const { scheduledate: _scheduled, ...unscheduled } = sms;
  prepareSend(settings.SENDMODE_API_VERSION === 'v3' ? unscheduled : sms, sendRulesFrom(settings));
  return queueSend(sms, origin, {
    statuses,
    enqueue: (message) => enqueue(settings.SEND_QUEUE_NAME, message),
    expectedAt: outboxExpectedAt,
  });
}
