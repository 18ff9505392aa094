/**
 * The simulator's Sendmode REST v2 side, under the base path (default /v2): `POST send`,
 * `GET credits`, `POST import` and `POST optout`, validated as the real service validates them
 * (the choices where the upstream is unconfirmed are listed in simulator.ts).
 */
import http from 'node:http';

import type { PickedFaults } from './faults.js';
import {
  isValidDateOfBirth,
  isValidMobile,
  isValidScheduleDate,
  isValidSenderId,
  normaliseNumber,
} from './field-formats.js';
import { sendText } from './http-io.js';
import { smsParts } from './sms-parts.js';
import type { Contact, Operation, OptOut, RecordedCall } from './types.js';
import {
  badJson,
  decodeBody,
  type DecodedBody,
  extractMessageObject,
  fail,
  isPlainObject,
  optionalString,
  parseJsonField,
  requiredString,
  SendmodeError,
  STATUS,
  unsupportedType,
} from './wire-format.js';

const OPERATIONS: readonly Operation[] = ['send', 'credits', 'import', 'optout'];
const METHOD_OF: Record<Operation, 'GET' | 'POST'> = {
  send: 'POST',
  credits: 'GET',
  import: 'POST',
  optout: 'POST',
};
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

/** The operation a path under `basePath` names. */
export function routeV2(basePath: string, pathname: string): Operation | 'unknown' {
  if (!pathname.startsWith(basePath + '/')) return 'unknown';
  const rest = pathname.slice(basePath.length + 1).replace(/\/+$/, '');
  return (OPERATIONS as readonly string[]).includes(rest) ? (rest as Operation) : 'unknown';
}

/** What handleV2Call needs from the simulator it runs in. */
export interface V2Context {
  answer(httpStatus: number, body: unknown, headers?: Record<string, string>): void;
  pickFaults(op: Operation): PickedFaults;
  sleep(ms: number): Promise<void>;
  closing(): boolean;
  balance(): number;
  spend(credits: number): void;
  /** Whether Sendmode is to refuse `number` (normalised) as undeliverable (refuseNumbers). */
  isRefused(number: string): boolean;
  /** Imported contacts by group and number. */
  contacts: Map<string, Contact>;
  /** Opted-out numbers. */
  optOuts: Map<string, OptOut>;
  /** The send was accepted: its delivery reports follow (delivery-reports.ts). */
  accepted(numbers: string[], customerId: string): void;
}

function nowIso(): string {
  return new Date().toISOString();
}

export async function handleV2Call(
  call: RecordedCall,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  raw: Buffer,
  ctx: V2Context,
): Promise<void> {
  const operation = call.operation;
  if (operation === 'unknown') {
    ctx.answer(404, { error: 'Not found', path: call.path });
    return;
  }
  const allowed = METHOD_OF[operation];
  if (call.method !== allowed) {
    ctx.answer(
      405,
      { error: `Method ${call.method} not allowed; use ${allowed}.` },
      { allow: allowed },
    );
    return;
  }

  // Faults come first: they stand for the network and the service's front door, not its logic.
  const { latency, fault } = ctx.pickFaults(operation);
  if (latency) {
    call.fault = 'latency';
    await ctx.sleep(latency.latencyMs ?? 1000);
    if (ctx.closing() || res.destroyed) return;
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
        ctx.answer(status, {
          status: 'SYSTEM_ERROR',
          statusCode: STATUS.SYSTEM_ERROR,
          error: `Simulated HTTP ${status} (${http.STATUS_CODES[status] ?? 'error'}).`,
        });
        return;
      }
      case 'rate-limit': {
        const seconds = fault.retryAfterSeconds ?? 1;
        ctx.answer(
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
        ctx.answer(200, {
          status: 'SYSTEM_ERROR',
          statusCode: STATUS.SYSTEM_ERROR,
          error: 'Simulated system error.',
        });
        return;
      case 'sendmode-error':
        // Any documented (or undocumented) rejection, on demand: e.g. INVALID_MOBILE_NUMBER.
        ctx.answer(200, {
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
    ctx.answer(200, {
      status: 'INVALID_ACCESS_KEY',
      statusCode: STATUS.INVALID_ACCESS_KEY,
      error: 'The access key is missing or not valid.',
    });
    return;
  }

  try {
    let result: unknown;
    if (operation === 'credits') {
      result = { status: 'OK', statusCode: STATUS.OK, balance: ctx.balance() };
    } else {
      const body = decodeBody(call.contentType, raw);
      if (operation === 'send') result = handleSend(body, call, ctx);
      else if (operation === 'import') result = handleImport(body, call, ctx);
      else result = handleOptOut(body, call, ctx);
    }
    ctx.answer(200, result);
  } catch (err) {
    if (err instanceof SendmodeError) {
      ctx.answer(200, { status: err.status, statusCode: STATUS[err.status], error: err.message });
    } else {
      ctx.answer(500, {
        status: 'SYSTEM_ERROR',
        statusCode: STATUS.SYSTEM_ERROR,
        error: 'Simulator bug: ' + String(err),
      });
    }
  }
}

function handleSend(body: DecodedBody, call: RecordedCall, ctx: V2Context): unknown {
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
    (r) => !isValidMobile(r) || ctx.isRefused(normaliseNumber(r)),
  );
  if (badIndex >= 0) {
    fail('INVALID_MOBILE_NUMBER', `recipients[${badIndex}] is not a valid mobile number.`);
  }
  if (scheduledate !== undefined && !isValidScheduleDate(scheduledate)) {
    fail('INVALID_SCHEDULE_DATE_FORMAT', 'scheduledate is not a valid date-time.');
  }
  const cost = parts * recipients.length;
  if (cost > ctx.balance()) {
    // Undocumented upstream: the real service's answer to a low balance is not public.
    fail(
      'INSUFFICIENT_CREDITS',
      `This message needs ${cost} credits; the balance is ${ctx.balance()}.`,
    );
  }
  ctx.spend(cost);
  ctx.accepted(recipients.map(normaliseNumber), customerid ?? '');
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

function handleImport(body: DecodedBody, call: RecordedCall, ctx: V2Context): unknown {
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
      if (!isPlainObject(body.value)) fail('INVALID_PARAMETER', 'The body must be a JSON object.');
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
  const existing = ctx.contacts.get(key);
  if (existing) {
    existing.fields = { ...existing.fields, ...fields };
    existing.importCount += 1;
  } else {
    ctx.contacts.set(key, { group, mobilenumber: number, fields, importCount: 1 });
  }
  const echo: Record<string, string> = {};
  for (const k of IMPORT_FIELDS) echo[k] = k === 'mobilenumber' ? mobilenumber : (fields[k] ?? '');
  return {
    status: 'OK',
    statusCode: STATUS.OK,
    acceptedDateTime: nowIso(),
    group,
    importdata: echo,
  };
}

function handleOptOut(body: DecodedBody, call: RecordedCall, ctx: V2Context): unknown {
  const msg = extractMessageObject(body, 'message');
  call.payload = msg;
  const mobilenumber = requiredString(msg, 'mobilenumber');
  const optoutresponse = optionalString(msg, 'optoutresponse');
  const returnedresponse = optionalString(msg, 'returnedresponse');
  if (!isValidMobile(mobilenumber)) {
    fail('INVALID_MOBILE_NUMBER', 'mobilenumber is not a valid mobile number.');
  }
  const number = normaliseNumber(mobilenumber);
  const existing = ctx.optOuts.get(number);
  if (existing) existing.count += 1;
  else ctx.optOuts.set(number, { mobilenumber: number, count: 1 });
  return {
    status: 'OK',
    statusCode: STATUS.OK,
    acceptedDateTime: nowIso(),
    mobilenumber,
    optoutreason: optoutresponse ?? returnedresponse ?? 'API',
  };
}
