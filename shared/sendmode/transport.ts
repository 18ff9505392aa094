/**
 * HTTP to Sendmode, shared by every API generation's client: one keep-alive pool with explicit
 * time-outs, answers read with a size bound, and transport failures turned into typed errors.
 * No wire format here: each client (client-v2.ts, client-v3.ts for 3.0) builds its own
 * requests and reads its own answers.
 */
import { errors as undiciErrors, Pool } from 'undici';

import { AppError, UpstreamTimeoutError, UpstreamUnavailableError } from '../errors.js';
import { tracedHttpCall } from '../telemetry/tracing.js';

export interface SendmodeClientOptions {
  baseUrl: string;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  maxConnections: number;
}

/** An HTTP answer as it came: status, text and `Retry-After` (in ms) when given. */
export interface RawAnswer {
  httpStatus: number;
  text: string;
  retryAfterMs?: number;
}

export const TRANSIENT_HTTP_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504]);
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

export class SendmodeTransport {
  private readonly pool: Pool;
  private readonly origin: string;
  private readonly basePath: string;

  constructor(options: SendmodeClientOptions) {
    const url = new URL(options.baseUrl);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.pool = new Pool(url.origin, {
      connections: options.maxConnections,
      connect: { timeout: options.connectTimeoutMs },
      headersTimeout: options.headersTimeoutMs,
      bodyTimeout: options.bodyTimeoutMs,
      keepAliveTimeout: 30_000,
    });
  }

  /** One request under the base URL's path; throws only for transport failures. */
  async request(
    method: 'GET' | 'POST',
    path: string,
    headers: Record<string, string>,
    body?: string,
  ): Promise<RawAnswer> {
    const fullPath = this.basePath + path;
    return tracedHttpCall(
      { method, origin: this.origin, path: fullPath },
      async () => {
        try {
          const response = await this.pool.request({ method, path: fullPath, headers, body });
          const retryAfterMs = parseRetryAfterMs(response.headers['retry-after']);
          const text = await readBounded(response.body);
          return {
            httpStatus: response.statusCode,
            text,
            ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
          };
        } catch (error) {
          throw classifyTransportError(error);
        }
      },
      (answer) => answer.httpStatus,
    );
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/** HTTP 429 from Sendmode (or a gateway before it): the throttle was hit anyway. Transient. */
export function throttledError(retryAfterMs?: number): UpstreamUnavailableError {
  return new UpstreamUnavailableError('Sendmode throttled the call (HTTP 429).', 429, retryAfterMs);
}

export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
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

/** `Retry-After` in seconds or as an HTTP date; undefined when absent or unreadable. */
function parseRetryAfterMs(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  const seconds = Number(text);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
