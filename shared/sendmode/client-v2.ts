/**
 * The Sendmode REST v2 client. The v2 wire format (form-encoded JSON in a field, the raw key in
 * `Authorization`, the shape of answers) lives only here; 3.0's lives in client-v3.ts. Callers
 * see only `SendmodeApi` (api.ts).
 */
import { type SendmodeStatus, UpstreamRejectedError, UpstreamUnavailableError } from '../errors.js';
import { scrubPhoneNumbers } from '../redact.js';
import type {
  CreditsResult,
  ImportCustomerRequest,
  ImportCustomerResult,
  OptOutRequest,
  OptOutResult,
  SendmodeApi,
  SendSmsRequest,
  SendSmsResult,
} from './api.js';
import {
  parseJsonObject,
  type RawAnswer,
  type SendmodeClientOptions,
  SendmodeTransport,
  throttledError,
  TRANSIENT_HTTP_STATUSES,
} from './transport.js';

export type { SendmodeClientOptions } from './transport.js';

/** A successful answer: Sendmode's status fields plus the operation's own. */
type SendmodeAnswer = Record<string, unknown> & { status: string; statusCode: number };

/** Status codes whose input or key can never succeed as sent. SYSTEM_ERROR (8) is transient. */
const TRANSIENT_STATUS_CODES = new Set([8]);

export class SendmodeClient implements SendmodeApi {
  readonly version = 'v2';
  private readonly transport: SendmodeTransport;

  constructor(options: SendmodeClientOptions) {
    this.transport = new SendmodeTransport(options);
  }

  async send(apiKey: string, request: SendSmsRequest): Promise<SendSmsResult> {
    return (await this.call(apiKey, 'POST', '/send', { message: json(request) })) as SendSmsResult;
  }

  async credits(apiKey: string): Promise<CreditsResult> {
    const answer = await this.call(apiKey, 'GET', '/credits');
    // Public client code reads `credits` rather than `balance`: unconfirmed, so accept both.
    const balance = Number(answer.balance ?? answer.credits);
    if (!Number.isFinite(balance)) {
      throw new UpstreamUnavailableError('Sendmode answered credits without a balance.');
    }
    return { status: String(answer.status), statusCode: Number(answer.statusCode), balance };
  }

  async importCustomer(
    apiKey: string,
    request: ImportCustomerRequest,
  ): Promise<ImportCustomerResult> {
    const form = { importdata: json(request.importdata), group: request.group };
    return (await this.call(apiKey, 'POST', '/import', form)) as ImportCustomerResult;
  }

  async optOut(apiKey: string, request: OptOutRequest): Promise<OptOutResult> {
    return (await this.call(apiKey, 'POST', '/optout', { message: json(request) })) as OptOutResult;
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  private async call(
    apiKey: string,
    method: 'GET' | 'POST',
    path: string,
    form?: Record<string, string>,
  ): Promise<SendmodeAnswer> {
    const headers: Record<string, string> = { authorization: apiKey, accept: 'application/json' };
    let body: string | undefined;
    if (form) {
      body = new URLSearchParams(form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    return interpretAnswer(await this.transport.request(method, path, headers, body));
  }
}

function json(value: unknown): string {
  return JSON.stringify(value);
}

/** Turns an HTTP answer into the parsed success body, or throws the typed failure. */
function interpretAnswer({ httpStatus, text, retryAfterMs }: RawAnswer): SendmodeAnswer {
  const parsed = parseJsonObject(text);
  const upstream = parsed && readStatus(parsed);

  if (httpStatus === 429) throw throttledError(retryAfterMs);
  if (upstream && upstream.statusCode !== 0) {
    const permanent =
      !TRANSIENT_STATUS_CODES.has(upstream.statusCode) && !TRANSIENT_HTTP_STATUSES.has(httpStatus);
    throw new UpstreamRejectedError(upstream, httpStatus, permanent);
  }
  if (httpStatus < 200 || httpStatus > 299) {
    if (TRANSIENT_HTTP_STATUSES.has(httpStatus) || httpStatus >= 500) {
      throw new UpstreamUnavailableError(`Sendmode answered HTTP ${httpStatus}.`, httpStatus);
    }
    const synthetic = { status: `HTTP_${httpStatus}`, statusCode: -1 };
    throw new UpstreamRejectedError(synthetic, httpStatus, true);
  }
  if (!parsed || !upstream) {
    throw new UpstreamUnavailableError('Sendmode answered with a body that is not its JSON.');
  }
  return { ...parsed, status: upstream.status, statusCode: upstream.statusCode };
}

function readStatus(body: Record<string, unknown>): SendmodeStatus | undefined {
  const statusCode = Number(body.statusCode);
  if (typeof body.status !== 'string' || !Number.isInteger(statusCode)) return undefined;
  const status: SendmodeStatus = { status: body.status, statusCode };
  if (typeof body.error === 'string') status.error = scrubPhoneNumbers(body.error);
  return status;
}
