/**
 * The HTTP edge shared by every HTTP function: read a bounded JSON body, run the operation,
 * map failures to problem details, and log one structured line per invocation.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';

import {
  AppError,
  DependencyUnavailableError,
  PayloadTooLargeError,
  RateLimitedError,
  UnsupportedMediaTypeError,
  UpstreamRejectedError,
  ValidationError,
} from '../errors.js';
import { countLimitWait } from '../telemetry/metrics.js';
import { problemResponse } from './problem.js';

/** The largest request body any route takes. */
export const MAX_BODY_BYTES = 64 * 1024;

const JSON_TYPE = /^application\/([\w.+-]+\+)?json$/i;

export function isJsonType(type: string | null): boolean {
  return type !== null && JSON_TYPE.test(type);
}

/** The request's media type, lower-cased, without parameters; null when absent. */
export function mediaType(request: HttpRequest): string | null {
  const header = request.headers.get('content-type');
  return header ? (header.split(';')[0] ?? '').trim().toLowerCase() : null;
}

/** Reads at most `maxBytes`, stopping early when a stream runs past it. */
export async function readBodyBytes(
  request: HttpRequest,
  maxBytes = MAX_BODY_BYTES,
): Promise<Buffer> {
  const declared = Number(request.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) throw new PayloadTooLargeError(maxBytes);
  if (!request.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new PayloadTooLargeError(maxBytes);
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks);
}

/** The body as JSON: 415 unless the content type is JSON, 413 when too big, 400 when malformed. */
export async function readJsonBody(request: HttpRequest): Promise<unknown> {
  const type = mediaType(request);
  if (!isJsonType(type)) throw new UnsupportedMediaTypeError(type, ['application/json']);
  const text = (await readBodyBytes(request)).toString('utf8');
  if (text.trim() === '') {
    throw new ValidationError([{ field: 'body', message: 'is empty; send a JSON object' }]);
  }
  return parseJson(text);
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // The parser's message can quote the body, which may hold phone numbers: keep it out.
    throw new ValidationError([{ field: 'body', message: 'is not valid JSON' }]);
  }
}

export function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): HttpResponseInit {
  return {
    status,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

/** Fields an operation adds to its one log line. Never the key, the text or full numbers. */
export interface InvocationLog {
  upstreamStatusCode?: number;
  recipientCount?: number;
  /** Masked (last 3 digits) numbers, at most 10 of them. */
  recipients?: string[];
  [field: string]: unknown;
}

export type HttpOperation = (log: InvocationLog) => Promise<HttpResponseInit>;

export async function handleHttp(
  context: InvocationContext,
  operation: string,
  run: HttpOperation,
): Promise<HttpResponseInit> {
  const started = performance.now();
  const log: InvocationLog = {};
  let response: HttpResponseInit;
  let outcome: string;
  try {
    response = await run(log);
    outcome = 'success';
  } catch (error) {
    if (error instanceof UpstreamRejectedError) log.upstreamStatusCode = error.upstream.statusCode;
    response = problemResponse(error, context.invocationId);
    outcome = error instanceof AppError ? error.kind : 'internal-error';
    if (error instanceof RateLimitedError) countLimitWait('interactive', 'rejected');
    if (error instanceof DependencyUnavailableError) log.dependency = error.dependency;
    if (!(error instanceof AppError))
      context.error(`${operation} failed unexpectedly`, safeError(error));
  }
  const line = {
    operation,
    outcome,
    status: response.status ?? 200,
    durationMs: Math.round(performance.now() - started),
    invocationId: context.invocationId,
    ...log,
  };
  const write = line.status >= 500 ? context.warn.bind(context) : context.info.bind(context);
  write(JSON.stringify(line));
  return response;
}

/** Name and stack only: messages of unexpected errors could quote input. */
function safeError(error: unknown): string {
  return error instanceof Error
    ? `${error.name}\n${error.stack?.split('\n').slice(1).join('\n') ?? ''}`
    : typeof error;
}
