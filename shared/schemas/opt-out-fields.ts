/**
 * The fields of one opt-out, from whatever shape a webhook sender uses: JSON (bare or wrapped in
 * `message`), form-encoded, or the query string, each turned into a field record here, then the
 * logical fields picked from the records by their aliases (opt-out.ts validates them).
 *
 * Field names are matched case-insensitively. Each logical field has aliases, tried in
 * this order (the first non-blank one wins; a blank value counts only when no alias has a
 * non-blank one):
 *
 * | field            | aliases                                                  |
 * | ---------------- | -------------------------------------------------------- |
 * | mobilenumber     | `mobilenumber`, `mobile`, `msisdn`, `from`, `number`     |
 * | optoutresponse   | `optoutresponse`, `message` (only when a string), `text`, `body` |
 * | returnedresponse | `returnedresponse`                                       |
 *
 * `phone` is deliberately not an alias: every extra alias is one more way for an unrelated
 * field to be taken for the number.
 * With several sources (`parseOptOut(query, body)`), each field is resolved per source and
 * a later source that has the field overrides an earlier one, whichever alias each used.
 * Within one source, two keys differing only in case: the later key wins.
 *
 * Note: form and query decoding turn an unencoded `+` into a space, so `?from=+353...`
 * arrives as ` 353...` and normalises to `353...`; senders must encode it as `%2B`.
 */
import { ValidationError } from '../errors.js';

export const NUMBER_ALIASES = ['mobilenumber', 'mobile', 'msisdn', 'from', 'number'] as const;
export const REPLY_TEXT_ALIASES = ['optoutresponse', 'message', 'text', 'body'] as const;
const RETURNED_RESPONSE_ALIASES = ['returnedresponse'] as const;

/** The logical fields of an opt-out. */
export type OptOutField = 'mobilenumber' | 'optoutresponse' | 'returnedresponse';

export interface Found {
  /** The key as the sender spelled it, for error messages. */
  key: string;
  value: unknown;
}

export const isBlank = (value: unknown): boolean =>
  value === undefined || value === null || (typeof value === 'string' && value.trim() === '');

/** Own enumerable fields, by lower-cased name; safe for `__proto__` and friends. */
function lowerCased(source: Record<string, unknown>): Map<string, Found> {
  const map = new Map<string, Found>();
  for (const [key, value] of Object.entries(source)) map.set(key.toLowerCase(), { key, value });
  return map;
}

/** The first non-blank alias present, else the first blank one, else undefined. */
function resolve(
  fields: Map<string, Found>,
  aliases: readonly string[],
  accept: (alias: string, value: unknown) => boolean = () => true,
): Found | undefined {
  let blank: Found | undefined;
  for (const alias of aliases) {
    const found = fields.get(alias);
    if (found === undefined || found.value === undefined || !accept(alias, found.value)) continue;
    if (!isBlank(found.value)) return found;
    blank ??= found;
  }
  return blank;
}

const replyTextAccepted = (alias: string, value: unknown): boolean =>
  alias !== 'message' || typeof value === 'string';

/**
 * Each logical field as the sources give it (earlier first: pass the query, then the body, so
 * body fields override), with the key it was sent under.
 */
export function chooseFields(
  sources: Record<string, unknown>[],
): Partial<Record<OptOutField, Found>> {
  const chosen: Partial<Record<OptOutField, Found>> = {};
  const pick = (field: OptOutField, found: Found | undefined): void => {
    const current = chosen[field];
    // A later source overrides, unless it only has a blank value and an earlier one had more.
    if (
      found !== undefined &&
      (current === undefined || !isBlank(found.value) || isBlank(current.value))
    ) {
      chosen[field] = found;
    }
  };
  for (const source of sources) {
    const fields = lowerCased(source);
    pick('mobilenumber', resolve(fields, NUMBER_ALIASES));
    pick('optoutresponse', resolve(fields, REPLY_TEXT_ALIASES, replyTextAccepted));
    pick('returnedresponse', resolve(fields, RETURNED_RESPONSE_ALIASES));
  }
  return chosen;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** A prototype-less copy of the own enumerable fields. */
function copy(source: Record<string, unknown>): Record<string, unknown> {
  const out = Object.create(null) as Record<string, unknown>;
  for (const [key, value] of Object.entries(source)) out[key] = value;
  return out;
}

/**
 * The fields of a parsed JSON body. `{ "message": { ... } }` (the connector's wrapped form;
 * `message` matched case-insensitively) is unwrapped to the inner object, unless the outer
 * object has a number field of its own; a non-object body → ValidationError on `body`.
 */
export function fieldsFromJson(body: unknown): Record<string, unknown> {
  if (!isRecord(body)) {
    throw new ValidationError([{ field: 'body', message: 'must be a JSON object' }]);
  }
  const fields = lowerCased(body);
  const wrapped = fields.get('message')?.value;
  const hasOwnNumber = NUMBER_ALIASES.some((alias) => fields.get(alias)?.value !== undefined);
  return copy(isRecord(wrapped) && !hasOwnNumber ? wrapped : body);
}

function fromParams(params: URLSearchParams): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  // A repeated key keeps its first value, as URLSearchParams.get does.
  for (const [key, value] of params) if (!(key in out)) out[key] = value;
  return out;
}

/** The fields of an `application/x-www-form-urlencoded` body. */
export function fieldsFromForm(text: string): Record<string, string> {
  return fromParams(new URLSearchParams(text));
}

/** The fields of the query string. */
export function fieldsFromQuery(query: URLSearchParams): Record<string, string> {
  return fromParams(query);
}
