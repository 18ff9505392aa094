/** The Idempotency-Key header: reading it, fingerprinting a request, recognising a replay. */
import { createHash } from 'node:crypto';

import type { HttpRequest, HttpResponseInit } from '@azure/functions';

import { ValidationError } from '../errors.js';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
export const REPLAYED_HEADER = 'idempotent-replayed';
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/** The header's value, or undefined when absent; 400 when present but unusable. */
export function readIdempotencyKey(request: HttpRequest): string | undefined {
  const key = request.headers.get(IDEMPOTENCY_HEADER);
  if (key === null) return undefined;
  if (key.length < 1 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH || !/^[\x20-\x7e]+$/.test(key)) {
    throw new ValidationError([
      {
        field: 'Idempotency-Key',
        message: `must be 1-${MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters`,
      },
    ]);
  }
  return key;
}

/** A stable fingerprint of the validated request: the same request always hashes the same. */
export function fingerprintOf(request: unknown): string {
  return createHash('sha256').update(JSON.stringify(request)).digest('base64url');
}

export function isReplay(response: HttpResponseInit): boolean {
  return (response.headers as Record<string, string> | undefined)?.[REPLAYED_HEADER] === 'true';
}
