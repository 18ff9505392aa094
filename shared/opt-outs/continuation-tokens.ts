/**
 * The continuation tokens of the operator routes: opaque to callers, and checked on the way back
 * in, so a token is only ever one these routes gave out (never a query fragment of the caller's).
 * A page token holds the canonical number the page ended on; a trail token the row key of the
 * oldest trail entry shown.
 */
import { TRAIL_ROW_KEY } from './audit-trail.js';

const TOKEN_PREFIX = 'after:';
const TRAIL_TOKEN_PREFIX = 'trail:';

/** The token of a page of `GET /api/optouts` that ended on the number `after`. */
export function encodeToken(after: string): string {
  return Buffer.from(`${TOKEN_PREFIX}${after}`, 'utf8').toString('base64url');
}

/** The number a page token continues after; undefined when it is not such a token. */
export function decodeToken(token: string): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(token)) return undefined;
  const text = Buffer.from(token, 'base64url').toString('utf8');
  if (!text.startsWith(TOKEN_PREFIX)) return undefined;
  const after = text.slice(TOKEN_PREFIX.length);
  return /^\d{1,20}$/.test(after) ? after : undefined;
}

/** The token of a look-up whose trail continues with the entries older than `olderThan`. */
export function encodeTrailToken(olderThan: string): string {
  return Buffer.from(`${TRAIL_TOKEN_PREFIX}${olderThan}`, 'utf8').toString('base64url');
}

/** The trail row key a trail token continues before; undefined when it is not such a token. */
export function decodeTrailToken(token: string): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(token)) return undefined;
  const text = Buffer.from(token, 'base64url').toString('utf8');
  if (!text.startsWith(TRAIL_TOKEN_PREFIX)) return undefined;
  const olderThan = text.slice(TRAIL_TOKEN_PREFIX.length);
  return TRAIL_ROW_KEY.test(olderThan) ? olderThan : undefined;
}
