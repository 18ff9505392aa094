/**
 * Sendmode REST v2's wire format as the simulator speaks it: the status codes it answers, the
 * rejection a check throws (answered as HTTP 200 with `{status, statusCode, error}`), and request
 * bodies, form-encoded (fields holding JSON strings) or JSON, decoded into the fields an
 * operation reads.
 */
export const STATUS = {
  OK: 0,
  INVALID_MESSAGE_LENGTH: 1,
  // Not in Sendmode's public list: the simulator's choice for "balance too low" (undocumented upstream).
  INSUFFICIENT_CREDITS: 2,
  SYSTEM_ERROR: 8,
  INVALID_SENDER_ID: 10,
  INVALID_MOBILE_NUMBER: 11,
  INVALID_ACCESS_KEY: 14,
  INVALID_PARAMETER: 18,
  INVALID_SCHEDULE_DATE_FORMAT: 97,
  EXPECTED_PARAMETER_MISSING: 195,
} as const;
export type StatusName = Exclude<keyof typeof STATUS, 'OK'>;

export class SendmodeError extends Error {
  constructor(
    readonly status: StatusName,
    message: string,
  ) {
    super(message);
  }
}

export function fail(status: StatusName, message: string): never {
  throw new SendmodeError(status, message);
}

export function unsupportedType(): SendmodeError {
  return new SendmodeError(
    'INVALID_PARAMETER',
    'Unsupported content type; use application/x-www-form-urlencoded or application/json.',
  );
}

export function badJson(): SendmodeError {
  return new SendmodeError('INVALID_PARAMETER', 'The body is not valid JSON.');
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Optional string field: absent, null or "" → undefined; non-string → INVALID_PARAMETER. */
export function optionalString(obj: Record<string, unknown>, key: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') fail('INVALID_PARAMETER', `${key} must be a string.`);
  return v;
}

/** Required string field: absent/null/"" → EXPECTED_PARAMETER_MISSING; non-string → INVALID_PARAMETER. */
export function requiredString(obj: Record<string, unknown>, key: string): string {
  const v = optionalString(obj, key);
  if (v === undefined || v.trim() === '') {
    fail('EXPECTED_PARAMETER_MISSING', `${key} is required.`);
  }
  return v;
}

export function parseJsonField(raw: string, name: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    fail('INVALID_PARAMETER', `${name} is not valid JSON.`);
  }
  if (!isPlainObject(value)) fail('INVALID_PARAMETER', `${name} must be a JSON object.`);
  return value;
}

export type DecodedBody =
  | { kind: 'form'; fields: URLSearchParams }
  | { kind: 'json'; value: unknown }
  | { kind: 'bad-json' }
  | { kind: 'unsupported' };

function mediaType(contentType: string | null): string | null {
  if (contentType === null) return null;
  return (contentType.split(';')[0] ?? '').trim().toLowerCase() || null;
}

export function decodeBody(contentType: string | null, body: Buffer): DecodedBody {
  const type = mediaType(contentType);
  if (type === 'application/x-www-form-urlencoded') {
    return { kind: 'form', fields: new URLSearchParams(body.toString('utf8')) };
  }
  if (type === 'application/json' || (type !== null && /^application\/[^;]+\+json$/.test(type))) {
    try {
      return { kind: 'json', value: JSON.parse(body.toString('utf8')) };
    } catch {
      return { kind: 'bad-json' };
    }
  }
  return { kind: 'unsupported' };
}

/**
 * The object carried in a single JSON field (`message` for send and opt-out): from a form field
 * (a JSON string), or from a JSON body, bare or wrapped as `{ "message": {...} }` (or a JSON string).
 */
export function extractMessageObject(body: DecodedBody, field: string): Record<string, unknown> {
  switch (body.kind) {
    case 'unsupported':
      throw unsupportedType();
    case 'bad-json':
      throw badJson();
    case 'form': {
      const raw = body.fields.get(field);
      if (raw === null || raw.trim() === '') {
        fail('EXPECTED_PARAMETER_MISSING', `Form field ${field} is required.`);
      }
      return parseJsonField(raw, field);
    }
    case 'json': {
      if (!isPlainObject(body.value)) fail('INVALID_PARAMETER', 'The body must be a JSON object.');
      const wrapped = body.value[field];
      if (isPlainObject(wrapped)) return wrapped;
      if (typeof wrapped === 'string') return parseJsonField(wrapped, field);
      if (wrapped !== undefined && wrapped !== null) {
        fail('INVALID_PARAMETER', `${field} must be a JSON object.`);
      }
      return body.value;
    }
  }
}
