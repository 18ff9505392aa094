/**
 * The Sendmode REST v2 client. The wire format (form-encoded JSON in a field, the raw key in
 * `Authorization`, the shape of answers) lives only here, so another API generation could be a
 * second implementation of `SendmodeApi` without touching callers.
 */
import { Pool, errors as undiciErrors } from 'undici';
import {
  AppError,
  type SendmodeStatus,
  UpstreamRejectedError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
} from '../errors.js';
import { scrubPhoneNumbers } from '../redact.js';

export interface SendSmsRequest {
  messagetext: string;
  recipients: string[];
  senderid?: string;
  customerid?: string;
  scheduledate?: string;
}

export interface SendSmsResult {
  status: string;
  statusCode: number;
  acceptedDateTime?: string;
  message?: {
    senderid?: string;
    messagetext?: string;
    customerid?: string;
    scheduledate?: string;
    recipients?: string[];
  };
}

export interface CreditsResult {
  status: string;
  statusCode: number;
  balance: number;
}

export interface Customer {
  mobilenumber: string;
  firstname?: string;
  surname?: string;
  address?: string;
  town?: string;
  county?: string;
  email?: string;
  custom1?: string;
  custom2?: string;
  businessname?: string;
  /** dd/mm/yyyy */
  dateofbirth?: string;
}

export interface ImportCustomerRequest {
  group: string;
  importdata: Customer;
}

export interface ImportCustomerResult {
  status: string;
  statusCode: number;
  acceptedDateTime?: string;
  group?: string;
  importdata?: Partial<Customer>;
}

export interface OptOutRequest {
  mobilenumber: string;
  optoutresponse?: string;
  returnedresponse?: string;
}

export interface OptOutResult {
  status: string;
  statusCode: number;
  acceptedDateTime?: string;
  mobilenumber?: string;
  optoutreason?: string;
}

/** One method per upstream operation; every call takes the API key it should use. */
export interface SendmodeApi {
  send(apiKey: string, request: SendSmsRequest): Promise<SendSmsResult>;
  credits(apiKey: string): Promise<CreditsResult>;
  importCustomer(apiKey: string, request: ImportCustomerRequest): Promise<ImportCustomerResult>;
  optOut(apiKey: string, request: OptOutRequest): Promise<OptOutResult>;
  close(): Promise<void>;
}

export interface SendmodeClientOptions {
  baseUrl: string;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  maxConnections: number;
}

/** A successful answer: Sendmode's status fields plus the operation's own. */
type SendmodeAnswer = Record<string, unknown> & { status: string; statusCode: number };

/** Status codes whose input or key can never succeed as sent. SYSTEM_ERROR (8) is transient. */
const TRANSIENT_STATUS_CODES = new Set([8]);
const TRANSIENT_HTTP_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504]);
/** Failures that happen before a connection exists: Sendmode never saw the request. */
const NOT_CONNECTED_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
/** Answers are small JSON documents; anything bigger is not Sendmode. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

export class SendmodeClient implements SendmodeApi {
  private readonly pool: Pool;
  private readonly basePath: string;

  constructor(private readonly options: SendmodeClientOptions) {
    const url = new URL(options.baseUrl);
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.pool = new Pool(url.origin, {
      connections: options.maxConnections,
      connect: { timeout: options.connectTimeoutMs },
      headersTimeout: options.headersTimeoutMs,
      bodyTimeout: options.bodyTimeoutMs,
      keepAliveTimeout: 30_000,
    });
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
    await this.pool.close();
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
    let httpStatus: number;
    let text: string;
    let retryAfter: string | string[] | undefined;
    try {
      const response = await this.pool.request({
        method,
        path: this.basePath + path,
        headers,
        body,
      });
      httpStatus = response.statusCode;
      retryAfter = response.headers['retry-after'];
      text = await readBounded(response.body);
    } catch (error) {
      throw classifyTransportError(error);
    }
    return interpretAnswer(httpStatus, text, retryAfter);
  }
}

function json(value: unknown): string {
  return JSON.stringify(value);
}

async function readBounded(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > MAX_RESPONSE_BYTES) {
      throw new UpstreamUnavailableError('Sendmode answered with an oversized body.');
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function classifyTransportError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof undiciErrors.ConnectTimeoutError) return new UpstreamTimeoutError('connect');
  if (error instanceof undiciErrors.HeadersTimeoutError) return new UpstreamTimeoutError('headers');
  if (error instanceof undiciErrors.BodyTimeoutError) return new UpstreamTimeoutError('body');
  const code = (error as { code?: unknown }).code;
  const reason = typeof code === 'string' ? code : 'network error';
  return new UpstreamUnavailableError(
    `Sendmode could not be reached (${reason}).`,
    undefined,
    undefined,
    !NOT_CONNECTED_CODES.has(reason),
  );
}

/** Turns an HTTP answer into the parsed success body, or throws the typed failure. */
function interpretAnswer(
  httpStatus: number,
  text: string,
  retryAfter?: string | string[],
): SendmodeAnswer {
  const parsed = parseJsonObject(text);
  const upstream = parsed && readStatus(parsed);

  if (httpStatus === 429) {
    throw new UpstreamUnavailableError(
      'Sendmode throttled the call (HTTP 429).',
      429,
      parseRetryAfterMs(retryAfter),
    );
  }
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

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function readStatus(body: Record<string, unknown>): SendmodeStatus | undefined {
  const statusCode = Number(body.statusCode);
  if (typeof body.status !== 'string' || !Number.isInteger(statusCode)) return undefined;
  const status: SendmodeStatus = { status: body.status, statusCode };
  if (typeof body.error === 'string') status.error = scrubPhoneNumbers(body.error);
  return status;
}

/** `Retry-After` in seconds or as an HTTP date; undefined when absent or unreadable. */
function parseRetryAfterMs(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  const seconds = Number(text);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
