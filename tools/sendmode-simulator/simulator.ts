/**
 * A local Sendmode REST v2 simulator: development and test tooling, never deployed. It speaks
 * Sendmode 3.0 ("Engage") too, under /3.0 on the same port (v3.ts), sharing keys, balance,
 * faults and the call log.
 *
 * It speaks the wire format in /work/shared/sendmode-api.md (form-encoded fields holding JSON
 * strings, or the same object as JSON), checks the raw-key `Authorization` header, validates like
 * the real service (HTTP 200 with `{status, statusCode, error}`), keeps a balance, contacts and an
 * opt-out list, records every call, and injects faults (latency, HTTP errors, 429, connection
 * resets, malformed bodies, SYSTEM_ERROR) so clients can be tested against them. Accepted sends are
 * followed by delivery reports to a configured URL (delivery-reports.ts).
 *
 * It deliberately shares no code with the connector: a bug in the connector's own validation or
 * SMS-part counting must not be copied into the thing that tests it.
 *
 * Choices where the upstream is unconfirmed (kept here, documented once):
 * - Sendmode-level errors (bad key, bad input, insufficient credits) are HTTP 200 with the error
 *   JSON; only injected faults, unknown paths, wrong methods and oversized bodies use other HTTP
 *   statuses.
 * - 'http-error' faults answer the chosen HTTP status with a Sendmode-style JSON body
 *   `{status:'SYSTEM_ERROR', statusCode:8, error}` (so a client must look at the HTTP status, not
 *   only at the body). Plain-text / HTML bodies are covered by the 'malformed' fault.
 * - 'rate-limit' faults answer HTTP 429 with `Retry-After: <seconds>` and the body an API gateway
 *   (Azure API Management) gives: `{statusCode:429, message:'Rate limit is exceeded. ...'}`.
 * - `/import` requires the `group` field (the connector marks it required; the REST docs do not).
 * - Re-importing group+mobilenumber merges the new fields over the stored ones.
 * - `scheduledate` accepts ISO 8601 with a time (`2030-01-31T10:15`, optional seconds and zone)
 *   or `dd/mm/yyyy hh:mm[:ss]`.
 * - Optional string fields given as `""` or `null` count as absent.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { refuseCrossSite, refuseForeignHost } from '../local-host/host-guard.js';
import { handleV3Call, isV3Path, routeV3, V3_BASE_PATH } from './v3.js';
import { createInbox, type InboxEvent } from './inbox/inbox.js';
import {
  createDeliveryReports,
  type DeliveryReports,
  type ReportAttempt,
} from './delivery-reports.js';

export type Operation = 'send' | 'credits' | 'import' | 'optout';

export type FaultKind =
  | 'latency'
  | 'http-error'
  | 'rate-limit'
  | 'reset'
  | 'malformed'
  | 'system-error'
  | 'sendmode-error';

export interface SimulatorOptions {
  /** Default 0: a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default ['local-dev-key']. */
  apiKeys?: string[];
  /** Default 1000. */
  balance?: number;
  /** Default '/v2'. */
  basePath?: string;
  /**
   * Addition to the agreed API: called once each recorded call is answered (or reset).
   * main.ts uses it to log one line per call. Must not throw.
   */
  onCall?: (call: RecordedCall) => void;
  /** Where delivery reports go until changed (delivery-reports.ts); default none. */
  deliveryReportUrl?: string;
  /** Called once each delivery report attempt is answered. Must not throw. */
  onReport?: (attempt: ReportAttempt) => void;
}

export interface RecordedCall {
  /** 1, 2, 3 ... in arrival order. */
  seq: number;
  /** Which API generation the call was made to: v2 under the base path, v3 under /3.0. */
  apiVersion: 'v2' | 'v3';
  operation: Operation | 'unknown';
  method: string;
  path: string;
  /** ms since epoch, sub-ms precision, taken on arrival before any injected latency. */
  arrivedAt: number;
  /** The Authorization header equalled a valid key. */
  authorized: boolean;
  contentType: string | null;
  /** The decoded operation payload, or null (credits, or a body that could not be decoded). */
  payload: unknown;
  /** The HTTP status answered; 0 if the connection was reset (or is still in flight). */
  httpStatus: number;
  /** The Sendmode statusCode answered, if any. */
  statusCode?: number;
  /** 3.0's `is_successful` answered, if any. */
  isSuccessful?: boolean;
  /** The fault applied, if any (when a latency fault was followed by another fault, the latter). */
  fault?: FaultKind;
}

export interface FaultSpec {
  kind: FaultKind;
  /** Default: every operation. */
  operation?: Operation;
  /** How many calls it applies to; default: until cleared. */
  times?: number;
  /** 0..1, default 1: applied at random to this share of matching calls. */
  probability?: number;
  /** For 'latency' (the call then proceeds normally); default 1000. */
  latencyMs?: number;
  /** For 'http-error'; default 503. */
  httpStatus?: number;
  /** For 'rate-limit': HTTP 429 with Retry-After; default 1. */
  retryAfterSeconds?: number;
  /** For 'sendmode-error': the rejection answered (HTTP 200); default INVALID_MOBILE_NUMBER / 11. */
  status?: string;
  statusCode?: number;
}

export interface Contact {
  group: string;
  mobilenumber: string;
  fields: Record<string, string>;
  importCount: number;
}

export interface OptOut {
  mobilenumber: string;
  count: number;
}

export interface Simulator {
  /** Base URL including basePath, e.g. http://127.0.0.1:54321/v2 (what SENDMODE_BASE_URL is set to). */
  url: string;
  /** Sendmode 3.0's base URL on the same server, e.g. http://127.0.0.1:54321/3.0. */
  urlV3: string;
  /** e.g. http://127.0.0.1:54321 */
  origin: string;
  /** Copy of every call so far (admin calls are not recorded). */
  calls(): RecordedCall[];
  callsFor(op: Operation): RecordedCall[];
  /**
   * Clears calls (seq restarts at 1), faults, contacts, opt-outs and pending delivery reports;
   * balance and report settings back to initial. Keys are kept.
   */
  reset(): void;
  injectFault(fault: FaultSpec): void;
  clearFaults(): void;
  /** Rotate keys: old ones become invalid. An empty list revokes every key. */
  setApiKeys(keys: string[]): void;
  setBalance(balance: number): void;
  /**
   * Numbers Sendmode refuses as it refuses a number it cannot deliver to: a send (v2) naming any
   * of them is answered INVALID_MOBILE_NUMBER, the whole call, as Sendmode does. Cleared by reset.
   */
  refuseNumbers(numbers: string[]): void;
  balance(): number;
  contacts(): Contact[];
  optOuts(): OptOut[];
  /** Delivery reports of accepted sends (also `/__admin/delivery-reports`); reset restores them. */
  deliveryReports: Pick<DeliveryReports, 'config' | 'configure' | 'sent'>;
  /** Tells `listener` of each answered call (with its raw body) and each clear; returns an unsubscribe. */
  subscribe(listener: (event: InboxEvent) => void): () => void;
  /** Stops listening and destroys open (keep-alive) sockets so it closes promptly. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Constants

const OPERATIONS: readonly Operation[] = ['send', 'credits', 'import', 'optout'];
const METHOD_OF: Record<Operation, 'GET' | 'POST'> = {
  send: 'POST',
  credits: 'GET',
  import: 'POST',
  optout: 'POST',
};
const ADMIN_PREFIX = '/__admin';
const BODY_LIMIT_BYTES = 1024 * 1024;
const MAX_PARTS = 10;
const IMPORT_FIELDS = [
  'mobilenumber',
  'firstname',
  'surname',
  'address',
  'town',
  'county',
  'email',
  'custom1',
  'custom2',
  'businessname',
  'dateofbirth',
] as const;

const STATUS = {
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
type StatusName = Exclude<keyof typeof STATUS, 'OK'>;

// ---------------------------------------------------------------------------------------------
// Fault spec validation (shared by injectFault() and POST /__admin/faults)

const faultSchema = z.strictObject({
  kind: z.enum([
    'latency',
    'http-error',
    'rate-limit',
    'reset',
    'malformed',
    'system-error',
    'sendmode-error',
  ]),
  status: z.string().min(1).optional(),
  statusCode: z.number().int().optional(),
  operation: z.enum(['send', 'credits', 'import', 'optout']).optional(),
  times: z.number().int().positive().optional(),
  probability: z.number().min(0).max(1).optional(),
  latencyMs: z.number().min(0).max(600_000).optional(),
  httpStatus: z.number().int().min(400).max(599).optional(),
  retryAfterSeconds: z.number().int().min(0).optional(),
});

function parseFault(input: unknown): FaultSpec {
  const result = faultSchema.safeParse(input);
  if (!result.success) {
    throw new TypeError(`Invalid fault spec: ${z.prettifyError(result.error)}`);
  }
  return result.data;
}

interface ActiveFault {
  spec: FaultSpec;
  /** Remaining applications; Infinity when `times` was not given. */
  remaining: number;
}

// ---------------------------------------------------------------------------------------------
// SMS parts (approximate is fine for a simulator; deliberately independent of shared/sendmode/sms-text.ts)

const GSM7_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡' +
    'ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM7_EXTENDED = new Set('^{}\\[~]|€\f');

/** Number of SMS parts: GSM-7 160 single / 153 per part; otherwise UCS-2 70 / 67. */
export function smsParts(text: string): number {
  let septets = 0;
  let gsm = true;
  for (const ch of text) {
    if (GSM7_BASIC.has(ch)) septets += 1;
    else if (GSM7_EXTENDED.has(ch)) septets += 2;
    else {
      gsm = false;
      break;
    }
  }
  if (gsm) return septets <= 160 ? 1 : Math.ceil(septets / 153);
  const units = text.length; // UTF-16 code units
  return units <= 70 ? 1 : Math.ceil(units / 67);
}

/** 'GSM-7' when every character is in the GSM 03.38 basic or extension table, else 'UCS-2'. */
export function smsEncoding(text: string): 'GSM-7' | 'UCS-2' {
  for (const ch of text) if (!GSM7_BASIC.has(ch) && !GSM7_EXTENDED.has(ch)) return 'UCS-2';
  return 'GSM-7';
}

// ---------------------------------------------------------------------------------------------
// Field validation helpers

class SendmodeError extends Error {
  constructor(
    readonly status: StatusName,
    message: string,
  ) {
    super(message);
  }
}

function fail(status: StatusName, message: string): never {
  throw new SendmodeError(status, message);
}

function unsupportedType(): SendmodeError {
  return new SendmodeError(
    'INVALID_PARAMETER',
    'Unsupported content type; use application/x-www-form-urlencoded or application/json.',
  );
}

function badJson(): SendmodeError {
  return new SendmodeError('INVALID_PARAMETER', 'The body is not valid JSON.');
}

function normaliseNumber(raw: string): string {
  return raw.replace(/\s+/g, '');
}

function isValidMobile(raw: string): boolean {
  return /^\+?\d{6,15}$/.test(normaliseNumber(raw));
}

function isValidSenderId(s: string): boolean {
  return /^[A-Za-z0-9]{1,11}$/.test(s) || /^\d{1,16}$/.test(s);
}

function isRealDate(year: number, month: number, day: number): boolean {
  const d = new Date(Date.UTC(year, month - 1, day));
  return d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day;
}

function isValidTime(h: number, m: number, s: number): boolean {
  return h <= 23 && m <= 59 && s <= 59;
}

function isValidDateOfBirth(s: string): boolean {
  const m = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(s);
  if (!m) return false;
  return isRealDate(Number(m[3]), Number(m[2]), Number(m[1]));
}

function isValidScheduleDate(s: string): boolean {
  const iso =
    /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?$/.exec(
      s,
    );
  if (iso) {
    return (
      isRealDate(Number(iso[1]), Number(iso[2]), Number(iso[3])) &&
      isValidTime(Number(iso[4]), Number(iso[5]), Number(iso[6] ?? 0))
    );
  }
  const uk = /^(\d{2})\/(\d{2})\/(\d{4}) (\d{2}):(\d{2})(?::(\d{2}))?$/.exec(s);
  if (uk) {
    return (
      isRealDate(Number(uk[3]), Number(uk[2]), Number(uk[1])) &&
      isValidTime(Number(uk[4]), Number(uk[5]), Number(uk[6] ?? 0))
    );
  }
  return false;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Optional string field: absent, null or "" → undefined; non-string → INVALID_PARAMETER. */
function optionalString(obj: Record<string, unknown>, key: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') fail('INVALID_PARAMETER', `${key} must be a string.`);
  return v;
}

/** Required string field: absent/null/"" → EXPECTED_PARAMETER_MISSING; non-string → INVALID_PARAMETER. */
function requiredString(obj: Record<string, unknown>, key: string): string {
  const v = optionalString(obj, key);
  if (v === undefined || v.trim() === '') {
    fail('EXPECTED_PARAMETER_MISSING', `${key} is required.`);
  }
  return v;
}

function parseJsonField(raw: string, name: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    fail('INVALID_PARAMETER', `${name} is not valid JSON.`);
  }
  if (!isPlainObject(value)) fail('INVALID_PARAMETER', `${name} must be a JSON object.`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Body decoding

type DecodedBody =
  | { kind: 'form'; fields: URLSearchParams }
  | { kind: 'json'; value: unknown }
  | { kind: 'bad-json' }
  | { kind: 'unsupported' };

function mediaType(contentType: string | null): string | null {
  if (contentType === null) return null;
  return (contentType.split(';')[0] ?? '').trim().toLowerCase() || null;
}

function decodeBody(contentType: string | null, body: Buffer): DecodedBody {
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
function extractMessageObject(body: DecodedBody, field: string): Record<string, unknown> {
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

// ---------------------------------------------------------------------------------------------
// Small HTTP helpers

class BodyTooLargeError extends Error {}
class ClientGoneError extends Error {}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > BODY_LIMIT_BYTES) {
        // Keep draining (so a keep-alive client still gets a clean 413), but stop buffering.
        tooLarge = true;
        chunks.length = 0;
        if (size > 16 * BODY_LIMIT_BYTES) req.socket.destroy();
        return;
      }
      if (!tooLarge) chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) reject(new BodyTooLargeError());
      else resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => reject(err));
    req.on('close', () => {
      if (!req.complete) reject(new ClientGoneError());
    });
  });
}

function sendJson(
  res: http.ServerResponse,
  httpStatus: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed || res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(httpStatus, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function sendText(
  res: http.ServerResponse,
  httpStatus: number,
  body: string,
  contentType: string,
): void {
  if (res.destroyed || res.headersSent) return;
  res.writeHead(httpStatus, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function nowIso(): string {
  return new Date().toISOString();
}

function arrivalTime(): number {
  return performance.timeOrigin + performance.now();
}

function cleanKeys(keys: unknown): string[] {
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string' || k === '')) {
    throw new TypeError('keys must be an array of non-empty strings.');
  }
  return [...(keys as string[])];
}

function checkBalance(balance: unknown): number {
  if (typeof balance !== 'number' || !Number.isFinite(balance) || balance < 0) {
    throw new TypeError('balance must be a finite number >= 0.');
  }
  return balance;
}

// ---------------------------------------------------------------------------------------------
// The server

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const host = options.host ?? '127.0.0.1';
  const basePath = ('/' + (options.basePath ?? '/v2').replace(/^\/+|\/+$/g, '')).replace(
    /^\/$/,
    '',
  );
  const initialBalance = checkBalance(options.balance ?? 1000);
  const onCall = options.onCall;

  let apiKeys = new Set(cleanKeys(options.apiKeys ?? ['local-dev-key']));
  let balance = initialBalance;
  let seq = 0;
  let calls: RecordedCall[] = [];
  let faults: ActiveFault[] = [];
  /** Numbers refused as undeliverable (refuseNumbers). */
  let refused = new Set<string>();
  const contacts = new Map<string, Contact>();
  const optOuts = new Map<string, OptOut>();
  const sockets = new Set<Socket>();
  const timers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  let closing = false;
  // The inbox page (inbox/) hears of every answered call and clear through these listeners.
  const listeners = new Set<(event: InboxEvent) => void>();
  const emit = (event: InboxEvent): void => {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch {
        // a listener must not break the simulator
      }
    }
  };
  const subscribe = (listener: (event: InboxEvent) => void) => {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  };
  // First: a bad report URL throws before anything is started.
  const reports = createDeliveryReports({
    url: options.deliveryReportUrl,
    onUpdate: (update) => emit({ type: 'delivery', update }),
    onAttempt: options.onReport,
  });
  const inbox = createInbox(subscribe);

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          timers.delete(entry);
          resolve();
        }, ms),
        resolve,
      };
      timers.add(entry);
    });
  }

  /** Decide the faults for one call now (consuming `times`): an optional latency, then at most one other. */
  function pickFaults(op: Operation): { latency?: FaultSpec; fault?: FaultSpec } {
    const picked: { latency?: FaultSpec; fault?: FaultSpec } = {};
    for (const active of faults) {
      const { spec } = active;
      if (active.remaining <= 0) continue;
      if (spec.operation !== undefined && spec.operation !== op) continue;
      if (spec.kind === 'latency' && picked.latency) continue;
      if (Math.random() >= (spec.probability ?? 1)) continue;
      active.remaining -= 1;
      if (spec.kind === 'latency') {
        picked.latency = spec;
        continue;
      }
      picked.fault = spec;
      break;
    }
    faults = faults.filter((f) => f.remaining > 0);
    return picked;
  }

  function routeOf(pathname: string): Operation | 'unknown' {
    if (!pathname.startsWith(basePath + '/')) return 'unknown';
    const rest = pathname.slice(basePath.length + 1).replace(/\/+$/, '');
    return (OPERATIONS as readonly string[]).includes(rest) ? (rest as Operation) : 'unknown';
  }

  // --- operations --------------------------------------------------------------------------

  function handleSend(body: DecodedBody, call: RecordedCall): unknown {
    const msg = extractMessageObject(body, 'message');
    call.payload = msg;
    const messagetext = requiredString(msg, 'messagetext');
    const rawRecipients = msg.recipients;
    if (
      rawRecipients === undefined ||
      rawRecipients === null ||
      (Array.isArray(rawRecipients) && rawRecipients.length === 0) ||
      rawRecipients === ''
    ) {
      fail('EXPECTED_PARAMETER_MISSING', 'recipients is required.');
    }
    if (!Array.isArray(rawRecipients) || rawRecipients.some((r) => typeof r !== 'string')) {
      fail('INVALID_PARAMETER', 'recipients must be an array of strings.');
    }
    const recipients = rawRecipients as string[];
    const senderid = optionalString(msg, 'senderid');
    const customerid = optionalString(msg, 'customerid');
    const scheduledate = optionalString(msg, 'scheduledate');

    const parts = smsParts(messagetext);
    if (parts > MAX_PARTS) {
      fail('INVALID_MESSAGE_LENGTH', `messagetext is ${parts} parts; at most ${MAX_PARTS}.`);
    }
    if (senderid !== undefined && !isValidSenderId(senderid)) {
      fail('INVALID_SENDER_ID', 'senderid must be 1-11 letters or digits, or 1-16 digits.');
    }
    const badIndex = recipients.findIndex(
      (r) => !isValidMobile(r) || refused.has(normaliseNumber(r)),
    );
    if (badIndex >= 0) {
      fail('INVALID_MOBILE_NUMBER', `recipients[${badIndex}] is not a valid mobile number.`);
    }
    if (scheduledate !== undefined && !isValidScheduleDate(scheduledate)) {
      fail('INVALID_SCHEDULE_DATE_FORMAT', 'scheduledate is not a valid date-time.');
    }
    const cost = parts * recipients.length;
    if (cost > balance) {
      // Undocumented upstream: the real service's answer to a low balance is not public.
      fail(
        'INSUFFICIENT_CREDITS',
        `This message needs ${cost} credits; the balance is ${balance}.`,
      );
    }
    balance -= cost;
    reports.accepted(call, recipients.map(normaliseNumber), customerid ?? '');
    return {
      status: 'OK',
      statusCode: STATUS.OK,
      acceptedDateTime: nowIso(),
      message: {
        senderid: senderid ?? '',
        messagetext,
        customerid: customerid ?? '',
        scheduledate: scheduledate ?? '',
        recipients,
      },
    };
  }

  function handleImport(body: DecodedBody, call: RecordedCall): unknown {
    let group: unknown;
    let importdata: Record<string, unknown>;
    switch (body.kind) {
      case 'unsupported':
        throw unsupportedType();
      case 'bad-json':
        throw badJson();
      case 'form': {
        const raw = body.fields.get('importdata');
        group = body.fields.get('group');
        if (raw === null || raw.trim() === '') {
          fail('EXPECTED_PARAMETER_MISSING', 'Form field importdata is required.');
        }
        importdata = parseJsonField(raw, 'importdata');
        break;
      }
      case 'json': {
        if (!isPlainObject(body.value))
          fail('INVALID_PARAMETER', 'The body must be a JSON object.');
        group = body.value.group;
        const raw = body.value.importdata;
        if (raw === undefined || raw === null || raw === '') {
          fail('EXPECTED_PARAMETER_MISSING', 'importdata is required.');
        }
        if (typeof raw === 'string') importdata = parseJsonField(raw, 'importdata');
        else if (isPlainObject(raw)) importdata = raw;
        else fail('INVALID_PARAMETER', 'importdata must be a JSON object.');
        break;
      }
    }
    call.payload = { group: group ?? null, importdata };
    if (group === undefined || group === null || group === '') {
      fail('EXPECTED_PARAMETER_MISSING', 'group is required.');
    }
    if (typeof group !== 'string') fail('INVALID_PARAMETER', 'group must be a string.');

    const mobilenumber = requiredString(importdata, 'mobilenumber');
    const fields: Record<string, string> = {};
    for (const key of IMPORT_FIELDS) {
      if (key === 'mobilenumber') continue;
      const v = optionalString(importdata, key);
      if (v !== undefined) fields[key] = v;
    }
    if (!isValidMobile(mobilenumber)) {
      fail('INVALID_MOBILE_NUMBER', 'mobilenumber is not a valid mobile number.');
    }
    if (fields.dateofbirth !== undefined && !isValidDateOfBirth(fields.dateofbirth)) {
      fail('INVALID_PARAMETER', 'dateofbirth must be a real date, dd/mm/yyyy.');
    }

    const number = normaliseNumber(mobilenumber);
    const key = `${group}\u0000${number}`;
    const existing = contacts.get(key);
    if (existing) {
      existing.fields = { ...existing.fields, ...fields };
      existing.importCount += 1;
    } else {
      contacts.set(key, { group, mobilenumber: number, fields, importCount: 1 });
    }
    const echo: Record<string, string> = {};
    for (const k of IMPORT_FIELDS)
      echo[k] = k === 'mobilenumber' ? mobilenumber : (fields[k] ?? '');
    return {
      status: 'OK',
      statusCode: STATUS.OK,
      acceptedDateTime: nowIso(),
      group,
      importdata: echo,
    };
  }

  function handleOptOut(body: DecodedBody, call: RecordedCall): unknown {
    const msg = extractMessageObject(body, 'message');
    call.payload = msg;
    const mobilenumber = requiredString(msg, 'mobilenumber');
    const optoutresponse = optionalString(msg, 'optoutresponse');
    const returnedresponse = optionalString(msg, 'returnedresponse');
    if (!isValidMobile(mobilenumber)) {
      fail('INVALID_MOBILE_NUMBER', 'mobilenumber is not a valid mobile number.');
    }
    const number = normaliseNumber(mobilenumber);
    const existing = optOuts.get(number);
    if (existing) existing.count += 1;
    else optOuts.set(number, { mobilenumber: number, count: 1 });
    return {
      status: 'OK',
      statusCode: STATUS.OK,
      acceptedDateTime: nowIso(),
      mobilenumber,
      optoutreason: optoutresponse ?? returnedresponse ?? 'API',
    };
  }

  // --- Sendmode API requests ----------------------------------------------------------------

  async function handleApi(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    pathname: string,
  ): Promise<void> {
    const arrivedAt = arrivalTime();
    const apiVersion = isV3Path(pathname) ? 'v3' : 'v2';
    const operation = apiVersion === 'v3' ? routeV3(pathname) : routeOf(pathname);
    const contentType = req.headers['content-type'] ?? null;
    const auth = req.headers.authorization;
    const call: RecordedCall = {
      seq: ++seq,
      apiVersion,
      operation,
      method: req.method ?? 'GET',
      path: pathname,
      arrivedAt,
      authorized: typeof auth === 'string' && apiKeys.has(auth),
      contentType,
      payload: null,
      httpStatus: 0,
    };
    calls.push(call);
    let rawBody: Buffer | undefined;
    let reported = false;
    const report = (): void => {
      if (reported) return;
      reported = true;
      try {
        onCall?.({ ...call });
      } catch {
        // a logging hook must not break the simulator
      }
      emit({ type: 'call', call: { ...call }, body: rawBody });
    };
    res.on('close', report);

    const answer = (httpStatus: number, body: unknown, headers?: Record<string, string>): void => {
      if (res.destroyed) return;
      call.httpStatus = httpStatus;
      if (isPlainObject(body) && typeof body.statusCode === 'number' && httpStatus !== 429) {
        call.statusCode = body.statusCode;
      }
      if (isPlainObject(body) && typeof body.is_successful === 'boolean') {
        call.isSuccessful = body.is_successful;
      }
      sendJson(res, httpStatus, body, headers);
    };

    let raw: Buffer;
    try {
      raw = await readBody(req);
      rawBody = raw;
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        answer(413, { error: `The body is larger than ${BODY_LIMIT_BYTES} bytes.` });
      } else {
        res.destroy();
      }
      return;
    }

    if (apiVersion === 'v3') {
      await handleV3Call(call, req, res, raw, {
        answer,
        pickFaults,
        sleep,
        closing: () => closing,
        balance: () => balance,
        spend: (credits) => (balance -= credits),
        accepted: (numbers, customerId) => reports.accepted(call, numbers, customerId),
        smsParts,
      });
      return;
    }
    if (operation === 'unknown') {
      answer(404, { error: 'Not found', path: pathname });
      return;
    }
    const allowed = METHOD_OF[operation];
    if (call.method !== allowed) {
      answer(
        405,
        { error: `Method ${call.method} not allowed; use ${allowed}.` },
        { allow: allowed },
      );
      return;
    }

    // Faults come first: they stand for the network and the service's front door, not its logic.
    const { latency, fault } = pickFaults(operation);
    if (latency) {
      call.fault = 'latency';
      await sleep(latency.latencyMs ?? 1000);
      if (closing || res.destroyed) return;
    }
    if (fault) {
      call.fault = fault.kind;
      switch (fault.kind) {
        case 'reset':
          call.httpStatus = 0;
          req.socket.destroy();
          return;
        case 'http-error': {
          const status = fault.httpStatus ?? 503;
          answer(status, {
            status: 'SYSTEM_ERROR',
            statusCode: STATUS.SYSTEM_ERROR,
            error: `Simulated HTTP ${status} (${http.STATUS_CODES[status] ?? 'error'}).`,
          });
          return;
        }
        case 'rate-limit': {
          const seconds = fault.retryAfterSeconds ?? 1;
          answer(
            429,
            {
              statusCode: 429,
              message: `Rate limit is exceeded. Try again in ${seconds} seconds.`,
            },
            { 'retry-after': String(seconds) },
          );
          return;
        }
        case 'malformed':
          call.httpStatus = 200;
          sendText(
            res,
            200,
            '<html><body><h1>Service Unavailable</h1></body></html>',
            'text/html; charset=utf-8',
          );
          return;
        case 'system-error':
          answer(200, {
            status: 'SYSTEM_ERROR',
            statusCode: STATUS.SYSTEM_ERROR,
            error: 'Simulated system error.',
          });
          return;
        case 'sendmode-error':
          // Any documented (or undocumented) rejection, on demand: e.g. INVALID_MOBILE_NUMBER.
          answer(200, {
            status: fault.status ?? 'INVALID_MOBILE_NUMBER',
            statusCode: fault.statusCode ?? STATUS.INVALID_MOBILE_NUMBER,
            error: 'Simulated rejection.',
          });
          return;
        case 'latency':
          break; // never picked here
      }
    }

    if (!call.authorized) {
      answer(200, {
        status: 'INVALID_ACCESS_KEY',
        statusCode: STATUS.INVALID_ACCESS_KEY,
        error: 'The access key is missing or not valid.',
      });
      return;
    }

    try {
      let result: unknown;
      if (operation === 'credits') {
        result = { status: 'OK', statusCode: STATUS.OK, balance };
      } else {
        const body = decodeBody(contentType, raw);
        if (operation === 'send') result = handleSend(body, call);
        else if (operation === 'import') result = handleImport(body, call);
        else result = handleOptOut(body, call);
      }
      answer(200, result);
    } catch (err) {
      if (err instanceof SendmodeError) {
        answer(200, { status: err.status, statusCode: STATUS[err.status], error: err.message });
      } else {
        answer(500, {
          status: 'SYSTEM_ERROR',
          statusCode: STATUS.SYSTEM_ERROR,
          error: 'Simulator bug: ' + String(err),
        });
      }
    }
  }

  // --- admin --------------------------------------------------------------------------------

  function state(): unknown {
    return {
      balance,
      contacts: contactsCopy(),
      optOuts: optOutsCopy(),
      faults: faults.map((f) => ({
        ...f.spec,
        ...(Number.isFinite(f.remaining) ? { times: f.remaining } : {}),
      })),
    };
  }

  async function handleAdmin(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    pathname: string,
    search: URLSearchParams,
  ): Promise<void> {
    let raw: Buffer;
    try {
      raw = await readBody(req);
    } catch (err) {
      if (err instanceof BodyTooLargeError) sendJson(res, 413, { error: 'Body too large.' });
      else res.destroy();
      return;
    }
    const route = pathname.slice(ADMIN_PREFIX.length).replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    const jsonBody = (): unknown => {
      try {
        return JSON.parse(raw.toString('utf8'));
      } catch {
        throw new TypeError('The body must be JSON.');
      }
    };
    const noContent = (): void => {
      res.writeHead(204);
      res.end();
    };
    const routes: Record<string, Record<string, () => void>> = {
      '/calls': {
        GET: () => {
          const op = search.get('operation');
          sendJson(res, 200, {
            calls: op === null ? sim.calls() : sim.calls().filter((c) => c.operation === op),
          });
        },
        DELETE: () => {
          calls = [];
          seq = 0;
          emit({ type: 'cleared' });
          noContent();
        },
      },
      '/faults': {
        GET: () => sendJson(res, 200, { faults: (state() as { faults: unknown }).faults }),
        POST: () => {
          sim.injectFault(parseFault(jsonBody()));
          noContent();
        },
        DELETE: () => {
          sim.clearFaults();
          noContent();
        },
      },
      '/keys': {
        PUT: () => {
          const body = jsonBody();
          sim.setApiKeys(cleanKeys(isPlainObject(body) ? body.keys : undefined));
          noContent();
        },
      },
      '/balance': {
        PUT: () => {
          const body = jsonBody();
          sim.setBalance(checkBalance(isPlainObject(body) ? body.balance : undefined));
          noContent();
        },
      },
      '/refused-numbers': {
        PUT: () => {
          const body = jsonBody();
          const numbers = isPlainObject(body) ? body.numbers : undefined;
          if (!Array.isArray(numbers) || !numbers.every((n) => typeof n === 'string')) {
            throw new TypeError('numbers must be an array of strings.');
          }
          sim.refuseNumbers(numbers);
          noContent();
        },
      },
      '/delivery-reports': {
        GET: () => sendJson(res, 200, reports.config()),
        PUT: () => sendJson(res, 200, reports.configure(jsonBody())),
      },
      '/delivery-reports/sent': { GET: () => sendJson(res, 200, reports.sent()) },
      '/state': { GET: () => sendJson(res, 200, state()) },
      '/reset': {
        POST: () => {
          sim.reset();
          noContent();
        },
      },
    };
    const handlers = routes[route];
    if (!handlers) {
      sendJson(res, 404, { error: 'Not found', path: pathname });
      return;
    }
    const handler = handlers[method];
    if (!handler) {
      const allow = Object.keys(handlers).join(', ');
      sendJson(res, 405, { error: `Method ${method} not allowed; use ${allow}.` }, { allow });
      return;
    }
    try {
      handler();
    } catch (err) {
      sendJson(res, 400, { error: err instanceof Error ? err.message : String(err) });
    }
  }

  // --- wiring -------------------------------------------------------------------------------

  const server = http.createServer((req, res) => {
    // Any web page could otherwise reach it by DNS rebinding (see host-guard.ts).
    if (refuseForeignHost(req, res, host)) return;
    const url = new URL(req.url ?? '/', 'http://simulator.invalid');
    const pathname = url.pathname;
    const isAdmin = pathname === ADMIN_PREFIX || pathname.startsWith(ADMIN_PREFIX + '/');
    // The admin API and the inbox's data (full numbers and texts) are for the inbox page itself
    // and non-browser clients, never another site's page.
    const isInboxData = pathname === '/__inbox/entries' || pathname === '/__inbox/events';
    if ((isAdmin || isInboxData) && refuseCrossSite(req, res)) return;
    if (inbox.handles(pathname)) return inbox.serve(req, res, pathname);
    const work = isAdmin
      ? handleAdmin(req, res, pathname, url.searchParams)
      : handleApi(req, res, pathname);
    work.catch(() => {
      if (!res.headersSent) sendJson(res, 500, { error: 'Simulator failure.' });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostForUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const origin = `http://${hostForUrl}:${address.port}`;

  function contactsCopy(): Contact[] {
    return [...contacts.values()].map((c) => ({ ...c, fields: { ...c.fields } }));
  }
  function optOutsCopy(): OptOut[] {
    return [...optOuts.values()].map((o) => ({ ...o }));
  }

  const sim: Simulator = {
    url: origin + basePath,
    urlV3: origin + V3_BASE_PATH,
    origin,
    calls: () => calls.map((c) => ({ ...c })),
    callsFor: (op) => calls.filter((c) => c.operation === op).map((c) => ({ ...c })),
    reset: () => {
      calls = [];
      seq = 0;
      faults = [];
      contacts.clear();
      optOuts.clear();
      refused = new Set();
      balance = initialBalance;
      reports.reset();
      emit({ type: 'cleared' });
    },
    refuseNumbers: (numbers) => {
      refused = new Set(numbers.map(normaliseNumber));
    },
    injectFault: (fault) => {
      const spec = parseFault(fault);
      faults.push({ spec, remaining: spec.times ?? Infinity });
    },
    clearFaults: () => {
      faults = [];
    },
    setApiKeys: (keys) => {
      apiKeys = new Set(cleanKeys(keys));
    },
    setBalance: (value) => {
      balance = checkBalance(value);
    },
    balance: () => balance,
    contacts: contactsCopy,
    optOuts: optOutsCopy,
    deliveryReports: reports,
    subscribe,
    close: async () => {
      if (closing) return;
      closing = true;
      inbox.close();
      for (const entry of timers) {
        clearTimeout(entry.timer);
        entry.resolve();
      }
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await Promise.all([closed, reports.close()]);
    },
  };
  return sim;
}
