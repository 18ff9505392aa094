import { app, type HttpRequest, type InvocationContext } from '@azure/functions';
import { handleHttp, jsonResponse, readJsonBody } from '../shared/http.js';
import { maskPhoneNumber } from '../shared/phone.js';
import { parseSendSms } from '../shared/schemas/send-sms.js';
import { getServices } from '../shared/services.js';

export async function sendSms(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'send-sms', async (log) => {
    const sms = parseSendSms(await readJsonBody(request));
    log.recipientCount = sms.recipients.length;
    log.recipients = sms.recipients.slice(0, 10).map(maskPhoneNumber);
    const { sendmode, settings } = await getServices();
    const result = await sendmode.send(sms, {
      log: context,
      maxWaitMs: settings.RATE_LIMIT_MAX_WAIT_SECONDS * 1000,
    });
    log.upstreamStatusCode = result.statusCode;
    return jsonResponse(200, result);
  });
}

app.http('send-sms', { methods: ['POST'], authLevel: 'function', route: 'sms', handler: sendSms });
