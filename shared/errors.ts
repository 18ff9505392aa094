/**
 * Errors are values with a kind. `shared/http/problem.ts` maps each kind to HTTP in one place;
 * queue handlers use `permanent` to decide between retrying and parking a message.
 */

export type ErrorKind =
  | 'validation'
  | 'unauthorized'
  | 'not-found'
  | 'method-not-allowed'
  | 'conflict'
  | 'unprocessable'
  | 'payload-too-large'
  | 'unsupported-media-type'
  | 'rate-limited'
  | 'upstream-rejected'
  | 'upstream-unavailable'
  | 'upstream-timeout'
  | 'not-offered'
  | 'dependency-unavailable';

export interface FieldError {
  /** JSON-pointer-like path of the bad field, e.g. `recipients/3`. */
  field: string;
  message: string;
}

export abstract class AppError extends Error {
  abstract readonly kind: ErrorKind;
  /** True when the same input can never succeed: do not retry. */
  abstract readonly permanent: boolean;
}

export class ValidationError extends AppError {
  readonly kind = 'validation';
  readonly permanent = true;
  constructor(
    readonly errors: FieldError[],
    message = 'The request is invalid.',
  ) {
    super(message);
  }
}

/** A missing, wrong, expired or replayed signature. Nothing was done. */
export class UnauthorizedError extends AppError {
  readonly kind = 'unauthorized';
  readonly permanent = true;
}

/** What the request names does not exist (e.g. a number not on the suppression list). */
export class NotFoundError extends AppError {
  readonly kind = 'not-found';
  readonly permanent = true;
}

/** The method cannot be taken on this route as configured (e.g. a GET where bodies are signed). */
export class MethodNotAllowedError extends AppError {
  readonly kind = 'method-not-allowed';
  readonly permanent = true;
  constructor(
    message: string,
    readonly allowed: string[],
  ) {
    super(message);
  }
}

/** The request clashes with one still in progress (e.g. the same Idempotency-Key). */
export class ConflictError extends AppError {
  readonly kind = 'conflict';
  readonly permanent = false;
}

/** Well-formed, but cannot be processed as asked (e.g. a reused key with another body). */
export class UnprocessableError extends AppError {
  readonly kind = 'unprocessable';
  readonly permanent = true;
  constructor(
    message: string,
    readonly errors: FieldError[] = [],
  ) {
    super(message);
  }
}

export class PayloadTooLargeError extends AppError {
  readonly kind = 'payload-too-large';
  readonly permanent = true;
  constructor(readonly limitBytes: number) {
    super(`The body is larger than ${limitBytes} bytes.`);
  }
}

export class UnsupportedMediaTypeError extends AppError {
  readonly kind = 'unsupported-media-type';
  readonly permanent = true;
  constructor(
    readonly received: string | null,
    readonly accepted: string[],
  ) {
    super(`Content type ${received ?? '(none)'} is not accepted; use ${accepted.join(' or ')}.`);
  }
}

/** The shared limit is reached; a slot frees in `retryAfterMs`. */
export class RateLimitedError extends AppError {
  readonly kind = 'rate-limited';
  readonly permanent = false;
  constructor(
    readonly retryAfterMs: number,
    message = 'The shared Sendmode call limit is reached.',
    /** For background work: the moment of the slot reserved for it (ms since the epoch). */
    readonly reservation?: number,
  ) {
    super(message);
  }
}

/** Fields Sendmode puts in every answer, kept as they came. */
export interface SendmodeStatus {
  status: string;
  statusCode: number;
  error?: string;
}

/** Sendmode answered, and said no. `permanent` tells bad input or a bad key from SYSTEM_ERROR. */
export class UpstreamRejectedError extends AppError {
  readonly kind = 'upstream-rejected';
  constructor(
    readonly upstream: SendmodeStatus,
    readonly httpStatus: number,
    readonly permanent: boolean,
  ) {
    super(`Sendmode answered ${upstream.status} (${upstream.statusCode}).`);
  }

  get isAuthFailure(): boolean {
    return this.upstream.status === 'INVALID_ACCESS_KEY' || this.upstream.status === 'UNAUTHORISED';
  }
}

/** Sendmode could not be used: 5xx, 429, reset, unparseable body. Always transient. */
export class UpstreamUnavailableError extends AppError {
  readonly kind = 'upstream-unavailable';
  readonly permanent = false;
  constructor(
    message: string,
    readonly httpStatus?: number,
    readonly retryAfterMs?: number,
    /** False only when no connection was made, so Sendmode cannot have acted on the request. */
    readonly requestSent = true,
  ) {
    super(message);
  }
}

/** Sendmode did not answer in time (connect, headers or body). Transient. */
export class UpstreamTimeoutError extends AppError {
  readonly kind = 'upstream-timeout';
  readonly permanent = false;
  constructor(readonly phase: 'connect' | 'headers' | 'body') {
    super(`Sendmode did not answer in time (${phase} time-out).`);
  }
}

/**
 * Whether Sendmode may have received (and acted on) the request that failed this way: any
 * answer, a reset or a time-out after connecting. Failures before the call never reached it.
 */
export function mayHaveReachedSendmode(error: unknown): boolean {
  if (error instanceof UpstreamRejectedError) return true;
  if (error instanceof UpstreamUnavailableError) return error.requestSent;
  if (error instanceof UpstreamTimeoutError) return error.phase !== 'connect';
  return false;
}

/** Key Vault or Table Storage cannot be used now; nothing was sent. */
export class DependencyUnavailableError extends AppError {
  readonly kind = 'dependency-unavailable';
  readonly permanent = false;
  constructor(
    readonly dependency: 'key-vault' | 'table-storage' | 'queue-storage' | 'configuration',
    message: string,
    readonly retryAfterMs = 5_000,
  ) {
    super(message);
  }
}

/**
 * The configured Sendmode API generation (`SENDMODE_API_VERSION`) has no call for this
 * operation or field. Permanent: nothing was sent, and retrying cannot help until the setting
 * changes.
 */
export class NotOfferedError extends AppError {
  readonly kind = 'not-offered';
  readonly permanent = true;
  constructor(
    message: string,
    readonly errors: FieldError[] = [],
  ) {
    super(message);
  }
}
