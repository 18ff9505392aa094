/**
 * The simulator's Sendmode 3.0 ("Engage") side, served beside v2 under /3.0 on the same port,
 * with the same keys, balance, faults and call log. What is public of 3.0 is little (see
 * docs/sendmode-api-v3.md); the choices below stand where nothing public says, kept here:
 *
 * - Only `POST /3.0/send` and `POST /3.0/send/bulk` exist (no credits, import or opt-out call is
 *   publicly described); anything else is 404 `{is_successful:false, error_message}`.
 * - A missing or wrong `Authorization` key is HTTP 401; bad input (including a body that is not
 *   a JSON object, or not `application/json`) is HTTP 400; both `{is_successful:false, error_message}`.
 * - `sender_id` is required: 1-15 letters or digits. Numbers must be international: `+` and
 *   6-15 digits. A bulk send takes at most 1,000 numbers. A low balance is HTTP 400.
 * - Success is HTTP 200 `{is_successful:true}`.
 * - Faults: 'system-error' is HTTP 500 with an error_message (3.0 has no SYSTEM_ERROR code);
 *   'sendmode-error' is a rejection with `error_message` = the fault's `status` (default
 *   "Simulated rejection."), at the fault's `httpStatus` or 200; 'http-error' carries an
 *   error_message; 'rate-limit', 'reset', 'malformed' and 'latency' are as for v2.
 */
import http from 'node:http';

import type { FaultSpec, Operation, RecordedCall } from './types.js';

export const V3_BASE_PATH = '/3.0';

const SENDER_ID = /^[A-Za-z0-9]{1,15}$/;
const INTERNATIONAL = /^\+\d{6,15}$/;
const MAX_BULK = 1000;
const MAX_PARTS = 10;

export function isV3Path(pathname: string): boolean {
  return pathname === V3_BASE_PATH || pathname.startsWith(V3_BASE_PATH + '/');
}

/** Both 3.0 send calls count as the operation 'send' (faults and `callsFor('send')` cover them). */
export function routeV3(pathname: string): Operation | 'unknown' {
  const rest = pathname.slice(V3_BASE_PATH.length).replace(/\/+$/, '');
  return rest === '/send' || rest === '/send/bulk' ? 'send' : 'unknown';
}

/** What handleV3Call needs from the simulator it runs in. */
export interface V3Context {
  answer(httpStatus: number, body: unknown, headers?: Record<string, string>): void;
  pickFaults(op: Operation): { latency?: FaultSpec; fault?: FaultSpec };
  sleep(ms: number): Promise<void>;
  closing(): boolean;
  balance(): number;
  spend(credits: number): void;
  smsParts(text: string): number;
  /** The send was accepted: its delivery reports follow (delivery-reports.ts). */
  accepted(numbers: string[], customerId: string): void;
}

class Rejection extends Error {
  constructor(
    readonly httpStatus: number,
    message: string,
  ) {
    super(message);
  }
}

function reject(httpStatus: number, message: string): never {
  throw new Rejection(httpStatus, message);
}

function failure(message: string): { is_successful: false; error_message: string } {
  return { is_successful: false, error_message: message };
}

export async function handleV3Call(
  call: RecordedCall,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  raw: Buffer,
  ctx: V3Context,
): Promise<void> {
  if (call.operation === 'unknown') {
    ctx.answer(404, failure(`Not found: ${call.path}`));
    return;
  }
  if (call.method !== 'POST') {
    ctx.answer(405, failure(`Method ${call.method} not allowed; use POST.`), { allow: 'POST' });
    return;
  }
  const { latency, fault } = ctx.pickFaults(call.operation);
  if (latency) {
    call.fault = 'latency';
    await ctx.sleep(latency.latencyMs ?? 1000);
    if (ctx.closing() || res.destroyed) return;
  }
  if (fault) {
    call.fault = fault.kind;
    switch (fault.kind) {
      case 'reset':
        req.socket.destroy();
        return;
      case 'http-error': {
        const status = fault.httpStatus ?? 503;
        ctx.answer(
          status,
          failure(`Simulated HTTP ${status} (${http.STATUS_CODES[status] ?? 'error'}).`),
        );
        return;
      }
      case 'rate-limit': {
        const seconds = fault.retryAfterSeconds ?? 1;
        ctx.answer(
          429,
          { statusCode: 429, message: `Rate limit is exceeded. Try again in ${seconds} seconds.` },
          { 'retry-after': String(seconds) },
        );
        return;
      }
      case 'malformed':
        call.httpStatus = 200;
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end('<html><body><h1>Service Unavailable</h1></body></html>');
        return;
      case 'system-error':
        ctx.answer(500, failure('Simulated system error.'));
        return;
      case 'sendmode-error':
        ctx.answer(fault.httpStatus ?? 200, failure(fault.status ?? 'Simulated rejection.'));
        return;
      case 'latency':
        break;
    }
  }
  if (!call.authorized) {
    ctx.answer(401, failure('The API key is missing or not valid.'));
    return;
  }
  try {
    ctx.answer(200, send(call, raw, ctx));
  } catch (error) {
    if (error instanceof Rejection) ctx.answer(error.httpStatus, failure(error.message));
    else ctx.answer(500, failure('Simulator bug: ' + String(error)));
  }
}

function send(call: RecordedCall, raw: Buffer, ctx: V3Context): { is_successful: true } {
  const type = (call.contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') reject(400, 'Content-Type must be application/json.');
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    reject(400, 'The body is not valid JSON.');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    reject(400, 'The body must be a JSON object.');
  }
  const fields = body as Record<string, unknown>;
  call.payload = fields;
  const bulk = call.path.replace(/\/+$/, '').endsWith('/bulk');

  const senderId = fields.sender_id;
  if (senderId === undefined || senderId === null || senderId === '') {
    reject(400, 'sender_id is required.');
  }
  if (typeof senderId !== 'string' || !SENDER_ID.test(senderId)) {
    reject(400, 'sender_id must be 1-15 letters or digits.');
  }
  const message = fields.message;
  if (typeof message !== 'string' || message.trim() === '') reject(400, 'message is required.');
  const parts = ctx.smsParts(message);
  if (parts > MAX_PARTS) reject(400, `message is ${parts} parts; at most ${MAX_PARTS}.`);
  if (fields.customer_id !== undefined && typeof fields.customer_id !== 'string') {
    reject(400, 'customer_id must be a string.');
  }

  let numbers: unknown[];
  if (bulk) {
    const list = fields.mobile_numbers;
    if (!Array.isArray(list) || list.length === 0) {
      reject(400, 'mobile_numbers must be a non-empty array.');
    }
    if (list.length > MAX_BULK) reject(400, `mobile_numbers holds at most ${MAX_BULK} numbers.`);
    numbers = list;
  } else {
    if (fields.mobile_number === undefined) reject(400, 'mobile_number is required.');
    numbers = [fields.mobile_number];
  }
  const bad = numbers.findIndex((n) => typeof n !== 'string' || !INTERNATIONAL.test(n));
  if (bad >= 0) {
    const field = bulk ? `mobile_numbers[${bad}]` : 'mobile_number';
    reject(400, `${field} must be an international number, e.g. +353871234567.`);
  }
  const cost = parts * numbers.length;
  if (cost > ctx.balance()) {
    reject(
      400,
      `Insufficient credit: this message needs ${cost}; the balance is ${ctx.balance()}.`,
    );
  }
  ctx.spend(cost);
  ctx.accepted(numbers as string[], customerIdOf(fields));
  return { is_successful: true };
}

/** The app sends `customer_id`; a v2-style `customerid` is taken too (empty when neither). */
function customerIdOf(fields: Record<string, unknown>): string {
  const id = fields.customer_id ?? fields.customerid;
  return typeof id === 'string' ? id : '';
}
