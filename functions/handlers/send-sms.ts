import type { HttpRequest, InvocationContext } from '@azure/functions';
import { handleHttp, jsonResponse, readJsonBody } from '../../shared/http/http.js';
import { fingerprintOf, isReplay, readIdempotencyKey } from '../../shared/http/idempotency-key.js';
import { maskPhoneNumber } from '../../shared/phone.js';
import { parseSendSms } from '../../shared/schemas/send-sms.js';
import { getServices } from '../../shared/services.js';
import { sendRulesFrom } from '../../shared/sendmode/api-version.js';
import { sendSmsRespectingOptOuts } from '../../shared/sendmode/sms-sender.js';

export async function sendSms(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'send-sms', async (log) => {
    const idempotencyKey = readIdempotencyKey(request);
    const sms = parseSendSms(await readJsonBody(request));
    log.recipientCount = sms.recipients.length;
    log.recipients = sms.recipients.slice(0, 10).map(maskPhoneNumber);
    const { sendmode, suppression, settings, idempotency } = await getServices();
    const send = async () => {
      const result = await sendSmsRespectingOptOuts(sms, {
        sendmode,
        suppression,
        log: context,
        maxWaitMs: settings.RATE_LIMIT_MAX_WAIT_SECONDS * 1000,
        rules: sendRulesFrom(settings),
      });
      log.upstreamStatusCode = result.statusCode;
      log.skippedCount = result.skippedRecipients?.length ?? 0;
      return jsonResponse(200, result);
    };
    if (!idempotencyKey) return send();
    const response = await idempotency.run(
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
