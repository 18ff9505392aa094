/**
 * The Sendmode 3.0 ("Engage") client: a second implementation of `SendmodeApi`. Its wire format
 * lives only here (docs/sendmode-api-v3.md, with what is unconfirmed): JSON bodies, the raw key
 * in `Authorization`, `POST /send` for one recipient and `POST /send/bulk` for several, success
 * `is_successful: true`, failure `error_message` (HTTP status not documented). 3.0 has no known
 * credits, import or opt-out call: those answer NotOfferedError (the Sendmode class refuses
 * them before any key read or limiter slot; these throws are the backstop).
 */
import {
  type SendmodeStatus,
  UpstreamRejectedError,
  UpstreamUnavailableError,
  ValidationError,
} from '../errors.js';
import { scrubPhoneNumbers } from '../redact.js';
import type {
  CreditsResult,
  ImportCustomerResult,
  OptOutResult,
  SendmodeApi,
  SendSmsRequest,
  SendSmsResult,
} from './api.js';
import { notOffered } from './api-version.js';
import {
  parseJsonObject,
  type RawAnswer,
  type SendmodeClientOptions,
  SendmodeTransport,
  throttledError,
  TRANSIENT_HTTP_STATUSES,
} from './transport.js';

/** International format, as 3.0 wants it (prepareSend in api-version.ts produces it). */
const INTERNATIONAL = /^\+\d{6,15}$/;

export class SendmodeClientV3 implements SendmodeApi {
  readonly version = 'v3';
  private readonly transport: SendmodeTransport;

  constructor(options: SendmodeClientOptions) {
    this.transport = new SendmodeTransport(options);
  }

  async send(apiKey: string, request: SendSmsRequest): Promise<SendSmsResult> {
    const { messagetext, recipients, senderid, customerid } = request;
    assertSendable(request);
    const [single] = recipients;
    // One recipient: /send (which takes the caller's reference); several: one /send/bulk call.
    const body =
      recipients.length === 1
        ? {
            sender_id: senderid,
            message: messagetext,
            mobile_number: single,
            ...(customerid !== undefined ? { customer_id: customerid } : {}),
          }
        : { sender_id: senderid, message: messagetext, mobile_numbers: recipients };
    await this.post(apiKey, recipients.length === 1 ? '/send' : '/send/bulk', body);
    // The app's answer keeps v2's shape; 3.0 says only that it succeeded (accepted: now).
    return {
      status: 'OK',
      statusCode: 0,
      acceptedDateTime: new Date().toISOString(),
      message: {
        senderid,
        messagetext,
        ...(recipients.length === 1 && customerid !== undefined ? { customerid } : {}),
        recipients,
      },
    };
  }

  credits(): Promise<CreditsResult> {
    return Promise.reject(notOffered('v3', 'credits'));
  }

  importCustomer(): Promise<ImportCustomerResult> {
    return Promise.reject(notOffered('v3', 'import'));
  }

  optOut(): Promise<OptOutResult> {
    return Promise.reject(notOffered('v3', 'optout'));
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  private async post(apiKey: string, path: string, body: object): Promise<Record<string, unknown>> {
    const headers = {
      authorization: apiKey,
      accept: 'application/json',
      'content-type': 'application/json',
    };
    return interpretAnswer(
      await this.transport.request('POST', path, headers, JSON.stringify(body)),
    );
  }
}

/** What prepareSend guarantees; checked again so nothing malformed ever leaves. */
function assertSendable(request: SendSmsRequest): void {
  if (request.scheduledate !== undefined) throw notOffered('v3', 'send');
  if (request.senderid === undefined) {
    throw new ValidationError([{ field: 'senderid', message: 'is required with Sendmode API v3' }]);
  }
  const bad = request.recipients.findIndex((number) => !INTERNATIONAL.test(number));
  if (bad >= 0 || request.recipients.length === 0) {
    throw new ValidationError([
      {
        field: `recipients/${Math.max(bad, 0)}`,
        message: 'must be in international form (+353...)',
      },
    ]);
  }
}

/**
 * Turns a 3.0 answer into its success body, or throws the typed failure. 3.0 documents no HTTP
 * statuses and no error codes, so: 429 is the throttle; 401/403 a refused key (read again and
 * retried once, as for v2); 5xx and the other transient statuses transient; any other failure
 * permanent. `upstream.status` is then `HTTP_<status>`, `NOT_SUCCESSFUL` (2xx without success) or
 * `UNAUTHORISED`; `statusCode` is -1 (3.0 has none); `error` is `error_message`, scrubbed.
 */
function interpretAnswer({ httpStatus, text, retryAfterMs }: RawAnswer): Record<string, unknown> {
  if (httpStatus === 429) throw throttledError(retryAfterMs);
  const parsed = parseJsonObject(text);
  const ok = httpStatus >= 200 && httpStatus <= 299;
  if (ok && parsed?.is_successful === true) return parsed;

  const error =
    typeof parsed?.error_message === 'string' ? scrubPhoneNumbers(parsed.error_message) : undefined;
  const upstream = (status: string): SendmodeStatus => ({
    status,
    statusCode: -1,
    ...(error !== undefined ? { error } : {}),
  });
  if (httpStatus === 401 || httpStatus === 403) {
    throw new UpstreamRejectedError(upstream('UNAUTHORISED'), httpStatus, true);
  }
  if (!ok && (TRANSIENT_HTTP_STATUSES.has(httpStatus) || httpStatus >= 500)) {
    if (error === undefined) {
      throw new UpstreamUnavailableError(`Sendmode answered HTTP ${httpStatus}.`, httpStatus);
    }
    throw new UpstreamRejectedError(upstream(`HTTP_${httpStatus}`), httpStatus, false);
  }
  if (!ok) throw new UpstreamRejectedError(upstream(`HTTP_${httpStatus}`), httpStatus, true);
  if (parsed?.is_successful === false || error !== undefined) {
    throw new UpstreamRejectedError(upstream('NOT_SUCCESSFUL'), httpStatus, true);
  }
  throw new UpstreamUnavailableError('Sendmode answered with a body that is not its JSON.');
}
