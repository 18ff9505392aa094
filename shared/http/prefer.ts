/** The Prefer request header (RFC 7240): which preferences a request states. */
import type { HttpRequest } from '@azure/functions';

export const RESPOND_ASYNC = 'respond-async';

/**
 * Whether the request prefers `preference`. Several Prefer headers arrive joined by commas; each
 * preference is a token, optionally `=value` and `;parameters`, compared without case.
 */
export function prefers(request: HttpRequest, preference: string): boolean {
  const header = request.headers.get('prefer');
  if (!header) return false;
  return header
    .split(',')
    .map((part) => (part.split(/[;=]/)[0] ?? '').trim().toLowerCase())
    .includes(preference);
}
