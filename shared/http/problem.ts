/**
 * Errors to HTTP, in one place: RFC 9457 problem details. Bodies carry no secrets, no message
 * text and no full phone numbers.
 */
import type { HttpResponseInit } from '@azure/functions';

import {
  ConflictError,
  DependencyUnavailableError,
  type FieldError,
  MethodNotAllowedError,
  NotFoundError,
  NotOfferedError,
  PayloadTooLargeError,
  RateLimitedError,
  type SendmodeStatus,
  UnauthorizedError,
  UnprocessableError,
  UnsupportedMediaTypeError,
  UpstreamRejectedError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
  ValidationError,
} from '../errors.js';
import { SettingsError } from '../settings.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldError[];
  upstream?: SendmodeStatus;
  invocationId?: string;
}

const TYPE_BASE = 'urn:sendmode-connector:problem:';

export function problemResponse(error: unknown, invocationId?: string): HttpResponseInit {
  const { problem, retryAfterMs, headers: extra } = describe(error);
  if (invocationId) problem.invocationId = invocationId;
  const headers: Record<string, string> = { 'content-type': 'application/problem+json', ...extra };
  if (retryAfterMs !== undefined) headers['retry-after'] = String(retryAfterSeconds(retryAfterMs));
  return { status: problem.status, headers, body: JSON.stringify(problem) };
}

/** Whole seconds, rounded up, never 0: a caller honouring it must not retry at once. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

function problem(kind: string, title: string, status: number, detail: string): Problem {
  return { type: TYPE_BASE + kind, title, status, detail };
}

function describe(error: unknown): {
  problem: Problem;
  retryAfterMs?: number;
  headers?: Record<string, string>;
} {
  if (error instanceof ValidationError) {
    const p = problem('validation', 'The request is invalid', 400, error.message);
    p.errors = error.errors;
    return { problem: p };
  }
  if (error instanceof UnauthorizedError) {
    return { problem: problem('unauthorized', 'Not authenticated', 401, error.message) };
  }
  if (error instanceof NotFoundError) {
    return { problem: problem('not-found', 'Not found', 404, error.message) };
  }
  if (error instanceof MethodNotAllowedError) {
    const p = problem('method-not-allowed', 'Method not allowed', 405, error.message);
    return { problem: p, headers: { allow: error.allowed.join(', ') } };
  }
  if (error instanceof ConflictError) {
    const p = problem('conflict', 'A request with this key is in progress', 409, error.message);
    return { problem: p, retryAfterMs: 5_000 };
  }
  if (error instanceof UnprocessableError) {
    const p = problem('unprocessable', 'The request cannot be processed', 422, error.message);
    if (error.errors.length > 0) p.errors = error.errors;
    return { problem: p };
  }
  if (error instanceof PayloadTooLargeError) {
    return { problem: problem('payload-too-large', 'Body too large', 413, error.message) };
  }
  if (error instanceof UnsupportedMediaTypeError) {
    const p = problem('unsupported-media-type', 'Unsupported content type', 415, error.message);
    return { problem: p };
  }
  if (error instanceof RateLimitedError) {
    const p = problem('rate-limited', 'Sendmode call limit reached', 429, error.message);
    return { problem: p, retryAfterMs: error.retryAfterMs };
  }
  if (error instanceof UpstreamRejectedError) {
    const p = problem('upstream-rejected', 'Sendmode rejected the request', 502, error.message);
    p.upstream = error.upstream;
    // SYSTEM_ERROR and the like pass: say when to try again.
    return error.permanent ? { problem: p } : { problem: p, retryAfterMs: 5_000 };
  }
  if (error instanceof UpstreamUnavailableError) {
    if (error.httpStatus === 429) {
      const p = problem('rate-limited', 'Sendmode throttled the call', 429, error.message);
      return { problem: p, retryAfterMs: error.retryAfterMs ?? 60_000 };
    }
    const p = problem('upstream-unavailable', 'Sendmode is unavailable', 502, error.message);
    return { problem: p, retryAfterMs: error.retryAfterMs ?? 5_000 };
  }
  if (error instanceof UpstreamTimeoutError) {
    const p = problem('upstream-timeout', 'Sendmode did not answer in time', 504, error.message);
    return { problem: p };
  }
  if (error instanceof NotOfferedError) {
    const p = problem(
      'not-offered',
      'Not offered by the configured Sendmode API',
      501,
      error.message,
    );
    if (error.errors.length > 0) p.errors = error.errors;
    return { problem: p };
  }
  if (error instanceof DependencyUnavailableError) {
    const p = problem('dependency-unavailable', 'A dependency is unavailable', 503, error.message);
    return { problem: p, retryAfterMs: error.retryAfterMs };
  }
  if (error instanceof SettingsError) {
    const p = problem('configuration', 'The app is misconfigured', 503, error.message);
    return { problem: p, retryAfterMs: 60_000 };
  }
  return { problem: problem('internal', 'Internal error', 500, 'An unexpected error occurred.') };
}
