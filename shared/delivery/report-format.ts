/**
 * What the app assumes about Sendmode's delivery reports, in one place (docs/delivery-reports.md
 * lists each assumption and what it rests on).
 *
 * Documented ("HTTP Delivery Reports"): one URL per account; parameters `EventID`, `Phonenumber`
 * (international digits), `DataType` (`SMS`), `Status`, `CustomerID` (the `customerid` sent);
 * the page outputs `True`; the six statuses below.
 *
 * Assumed: the method (a query-string `GET` as in the documented example, a form `POST`, or JSON:
 * all are taken); field names in any case, and 3.0's snake case (`customer_id`, `phone_number`,
 * `event_id`, `data_type`: public code suggests `customer_id` comes back in callbacks); that a
 * report's status word may gain statuses (an unknown word is kept, not final); which calls carry
 * the app's reference (`callCarriesReference`).
 */
import { type FieldError, ValidationError } from '../errors.js';
import { canonicalNumber, normalisePhoneNumber } from '../phone.js';
import type { SendmodeApiVersion } from '../settings.js';

/** What the app makes of a report's `Status` (the event and the API document list these). */
export const DELIVERY_STATES = [
  'pending',
  'dispatched',
  'delivered',
  'expired',
  'undelivered',
  'rejected',
  'opted-out',
  'unknown',
] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** Sendmode's documented statuses. */
export const SENDMODE_STATUSES: Record<string, DeliveryState> = {
  DISPATCHED: 'dispatched',
  DELIVRD: 'delivered',
  EXPIRED: 'expired',
  UNDELIV: 'undelivered',
  REJECTD: 'rejected',
  'OPTED OUT - BLOCKED': 'opted-out',
};

const FAILED: ReadonlySet<DeliveryState> = new Set([
  'expired',
  'undelivered',
  'rejected',
  'opted-out',
]);

export function isFailed(state: DeliveryState): boolean {
  return FAILED.has(state);
}

export function isFinal(state: DeliveryState): boolean {
  return state === 'delivered' || isFailed(state);
}

/**
 * How far along a state is: a report moves a recipient only forward, so reports out of order never
 * undo a final one, and duplicates change nothing. A late `DELIVRD` outranks an earlier failure
 * (`EXPIRED` means the handset did not answer in time, and it did).
 */
export function rankOf(state: DeliveryState): number {
  if (state === 'delivered') return 3;
  if (isFailed(state)) return 2;
  return state === 'pending' ? 0 : 1;
}

/** What a report said, in the app's terms. */
export interface DeliveryReport {
  /** International digits, as the suppression list keys numbers. */
  number: string;
  /** Sendmode's word, upper-cased (`DELIVRD`). */
  sendmodeStatus: string;
  state: DeliveryState;
  /** Empty when the report carried none. */
  customerId: string;
  eventId: string;
}

/** Longest value taken for any field: the documented ones are short. */
const MAX_FIELD_CHARS = 256;
const STATUS_WORD = /^[A-Z][A-Z0-9 _-]{0,39}$/;

/** Each field's spellings, lower-cased: v2's documented names, then 3.0's assumed snake case. */
const FIELD_NAMES = {
  eventId: ['eventid', 'event_id', 'messageid', 'message_id'],
  number: ['phonenumber', 'phone_number', 'mobilenumber', 'mobile_number', 'msisdn'],
  dataType: ['datatype', 'data_type'],
  status: ['status'],
  customerId: ['customerid', 'customer_id'],
} as const;

/** The fields of a report as received, any case (query, form or JSON: see the route). */
export type ReportFields = Map<string, string>;

/** Fields from name/value pairs, names lower-cased; a name given twice keeps the first. */
export function fieldsOf(pairs: Iterable<[string, unknown]>): ReportFields {
  const fields: ReportFields = new Map();
  for (const [name, value] of pairs) {
    const key = name.toLowerCase();
    if (fields.has(key)) continue;
    if (typeof value === 'string') fields.set(key, value);
    else if (typeof value === 'number' && Number.isFinite(value)) fields.set(key, String(value));
  }
  return fields;
}

function field(fields: ReportFields, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = fields.get(name);
    if (value !== undefined) return value.trim();
  }
  return undefined;
}

/**
 * A report, or a ValidationError naming what is wrong (never quoting a number). `Phonenumber` and
 * `Status` are required; `DataType`, when given, must be `SMS`.
 */
export function parseReport(fields: ReportFields, defaultCountryCode?: string): DeliveryReport {
  const errors: FieldError[] = [];
  const value = (name: keyof typeof FIELD_NAMES, label: string): string | undefined => {
    const found = field(fields, FIELD_NAMES[name]);
    if (found !== undefined && found.length > MAX_FIELD_CHARS) {
      errors.push({ field: label, message: `must be at most ${MAX_FIELD_CHARS} characters` });
      return undefined;
    }
    // eslint-disable-next-line no-control-regex
    if (found !== undefined && /[\u0000-\u001f\u007f]/.test(found)) {
      errors.push({ field: label, message: 'must not contain control characters' });
      return undefined;
    }
    return found;
  };
  const rawNumber = value('number', 'Phonenumber');
  const status = value('status', 'Status')?.toUpperCase();
  const dataType = value('dataType', 'DataType');
  const customerId = value('customerId', 'CustomerID') ?? '';
  const eventId = value('eventId', 'EventID') ?? '';
  const normalised = rawNumber === undefined ? undefined : normalisePhoneNumber(rawNumber);
  if (rawNumber === undefined || rawNumber === '') {
    errors.push({ field: 'Phonenumber', message: 'is required' });
  } else if (normalised === undefined) {
    errors.push({ field: 'Phonenumber', message: 'must be 6-15 digits' });
  }
  if (status === undefined || status === '') {
    errors.push({ field: 'Status', message: 'is required' });
  } else if (!STATUS_WORD.test(status)) {
    errors.push({ field: 'Status', message: 'is not a status word' });
  }
  if (dataType !== undefined && dataType !== '' && dataType.toUpperCase() !== 'SMS') {
    errors.push({ field: 'DataType', message: 'must be SMS (only SMS reports are taken)' });
  }
  if (errors.length > 0 || normalised === undefined || status === undefined) {
    throw new ValidationError(errors);
  }
  return {
    number: canonicalNumber(normalised, defaultCountryCode),
    sendmodeStatus: status,
    state: SENDMODE_STATUSES[status] ?? 'unknown',
    customerId,
    eventId,
  };
}

/**
 * Whether a send call carries its `customerid`, so its reports can name it. v2 takes one on
 * every send; 3.0's single send takes `customer_id`, its bulk send (several recipients) none
 * that is documented: those reports are matched by the number alone.
 */
export function callCarriesReference(version: SendmodeApiVersion, recipients: number): boolean {
  return version === 'v2' || recipients === 1;
}

/** The answer Sendmode's documentation asks the page to output. */
export const REPORT_TAKEN_BODY = 'True';
