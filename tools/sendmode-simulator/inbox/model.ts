/**
 * What the inbox shows: one entry per recorded call, read from the call and its raw body.
 *
 * The body is decoded here (best effort) because a call stopped by an injected fault or a
 * refused key never reaches the simulator's own decoding, yet the inbox should still say whom
 * the failed SMS was for. Field names of both API generations are read (v2 `messagetext`,
 * `recipients`, `senderid`; 3.0 `message`, `mobile_number` or `mobile_numbers`, `sender_id`,
 * `customer_id`), so any send recorded in the same shape shows up, whichever path it came in on.
 */
import { isFinalStatus, type RecipientDelivery } from '../delivery-reports.js';
import { smsEncoding, smsParts } from '../sms-parts.js';
import type { RecordedCall } from '../types.js';

export type EntryKind = 'sms' | 'import' | 'optout' | 'credits' | 'other';

export interface SmsDetails {
  recipients: string[];
  text: string;
  senderId: string;
  customerId: string;
  scheduleDate: string;
  parts: number;
  encoding: 'GSM-7' | 'UCS-2';
}

export interface InboxEntry {
  seq: number;
  /** The API generation called: 'v2', or 'v3' (Sendmode 3.0). */
  apiVersion: string;
  kind: EntryKind;
  method: string;
  path: string;
  /** ISO time of arrival. */
  at: string;
  ok: boolean;
  /** Why it failed, in a few words (fault, refused key, Sendmode's rejection, HTTP status). */
  failure?: string;
  httpStatus: number;
  statusCode?: number;
  /** Each SMS in the call (a bulk call holds several). */
  sms?: SmsDetails[];
  /** Imports: the group, number and name given. */
  contact?: { group: string; mobileNumber: string; name: string };
  /** Opt-outs: the number and the reply text or reason given. */
  optOut?: { mobileNumber: string; reason: string };
  /** Accepted sends: each recipient's delivery report so far (delivery-reports.ts). */
  delivery?: Deliveries;
}

/** By recipient, spelt as in `sms.recipients`. */
export type Deliveries = Record<string, RecipientDelivery>;

/**
 * A report moves a recipient forward only: a DISPATCHED after the final status (out of order, or
 * a retry) leaves the final one shown.
 */
export function withDelivery(
  deliveries: Deliveries | undefined,
  recipient: string,
  next: RecipientDelivery,
): Deliveries {
  const shown = deliveries?.[recipient];
  const backwards =
    shown !== undefined && isFinalStatus(shown.status) && !isFinalStatus(next.status);
  return backwards ? { ...deliveries } : { ...deliveries, [recipient]: next };
}

/** Sendmode's status codes by number, to name a rejection (the recorded call keeps only the number). */
const STATUS_NAMES: Record<number, string> = {
  1: 'INVALID_MESSAGE_LENGTH',
  2: 'INSUFFICIENT_CREDITS',
  8: 'SYSTEM_ERROR',
  10: 'INVALID_SENDER_ID',
  11: 'INVALID_MOBILE_NUMBER',
  14: 'INVALID_ACCESS_KEY',
  18: 'INVALID_PARAMETER',
  97: 'INVALID_SCHEDULE_DATE_FORMAT',
  195: 'EXPECTED_PARAMETER_MISSING',
};

type Fields = Record<string, unknown>;

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseObject(text: string): Fields | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The request as an object: JSON, or a form whose fields may hold JSON strings. */
export function decodeRequestBody(contentType: string | null, body: Buffer | undefined): Fields {
  if (!body || body.length === 0) return {};
  const text = body.toString('utf8');
  if (/x-www-form-urlencoded/i.test(contentType ?? '')) {
    const fields: Fields = {};
    for (const [name, value] of new URLSearchParams(text)) {
      fields[name] = /^\s*[{[]/.test(value) ? (parseObject(value) ?? value) : value;
    }
    return fields;
  }
  return parseObject(text) ?? {};
}

function text(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
}

function firstText(fields: Fields, ...names: string[]): string {
  for (const name of names) {
    const value = text(fields[name]);
    if (value !== '') return value;
  }
  return '';
}

/** `{ message: {...} }` or the bare object, as the simulator itself reads it. */
function unwrap(fields: Fields, wrapper: string): Fields {
  const inner = fields[wrapper];
  if (isObject(inner)) return inner;
  if (typeof inner === 'string') return parseObject(inner) ?? fields;
  return fields;
}

function recipientsOf(message: Fields): string[] {
  const list = message.recipients ?? message.mobile_numbers ?? message.to;
  const numbers = Array.isArray(list) ? list : [];
  const found = numbers.map((item) =>
    isObject(item) ? firstText(item, 'mobile_number', 'mobilenumber', 'number') : text(item),
  );
  const single = firstText(message, 'mobile_number', 'mobilenumber', 'recipient');
  if (single !== '') found.push(single);
  return found.filter((n) => n !== '').map((n) => n.replace(/\s+/g, ''));
}

function smsOf(message: Fields, v3: boolean): SmsDetails {
  // In 3.0 `message` is the text; in v2 it is the wrapper (already unwrapped here).
  const body = v3
    ? firstText(message, 'message', 'message_text')
    : firstText(message, 'messagetext', 'message_text', 'text');
  return {
    recipients: recipientsOf(message),
    text: body,
    senderId: firstText(message, 'senderid', 'sender_id', 'from'),
    customerId: firstText(message, 'customerid', 'customer_id', 'reference'),
    scheduleDate: firstText(message, 'scheduledate', 'schedule_date'),
    parts: body === '' ? 0 : smsParts(body),
    encoding: smsEncoding(body),
  };
}

function kindOf(call: RecordedCall): EntryKind {
  const op = String(call.operation);
  if (op === 'send' || /\/send(\/bulk)?\/?$/.test(call.path)) return 'sms';
  if (op === 'import' || op === 'optout' || op === 'credits') return op;
  return 'other';
}

function failureOf(call: RecordedCall): string | undefined {
  const fault = call.fault && call.fault !== 'latency' ? call.fault : undefined;
  if (call.httpStatus === 0) return fault ? `injected fault: ${fault} (no answer)` : 'no answer';
  if (fault) return `injected fault: ${fault} (HTTP ${call.httpStatus})`;
  if (!call.authorized && call.statusCode === 14) return 'rejected key: INVALID_ACCESS_KEY (14)';
  if (!call.authorized && call.httpStatus === 401) return 'rejected key (HTTP 401)';
  if (call.httpStatus !== 200) return `HTTP ${call.httpStatus}`;
  if (call.isSuccessful === false) return 'rejected (is_successful: false)';
  if (call.statusCode !== undefined && call.statusCode !== 0) {
    return `${STATUS_NAMES[call.statusCode] ?? 'error'} (${call.statusCode})`;
  }
  return undefined;
}

export function toEntry(call: RecordedCall, body?: Buffer): InboxEntry {
  const kind = kindOf(call);
  const failure = failureOf(call);
  const fields = isObject(call.payload) ? call.payload : decodeRequestBody(call.contentType, body);
  const v3 = call.apiVersion === 'v3';
  const entry: InboxEntry = {
    seq: call.seq,
    apiVersion: call.apiVersion ?? 'v2',
    kind,
    method: call.method,
    path: call.path,
    at: new Date(call.arrivedAt).toISOString(),
    ok: failure === undefined,
    httpStatus: call.httpStatus,
    ...(failure !== undefined ? { failure } : {}),
    ...(call.statusCode !== undefined ? { statusCode: call.statusCode } : {}),
  };
  if (kind === 'sms') {
    const message = v3 ? fields : unwrap(fields, 'message');
    entry.sms = [smsOf(message, v3)];
  } else if (kind === 'import') {
    const data = isObject(fields.importdata)
      ? fields.importdata
      : (parseObject(text(fields.importdata)) ?? {});
    entry.contact = {
      group: text(fields.group),
      mobileNumber: text(data.mobilenumber).replace(/\s+/g, ''),
      name: [text(data.firstname), text(data.surname)].filter((s) => s !== '').join(' '),
    };
  } else if (kind === 'optout') {
    const message = unwrap(fields, 'message');
    entry.optOut = {
      mobileNumber: firstText(message, 'mobilenumber', 'mobile_number').replace(/\s+/g, ''),
      reason: firstText(message, 'optoutresponse', 'returnedresponse'),
    };
  }
  return entry;
}
