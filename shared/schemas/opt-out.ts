/**
 * One opt-out, from whatever shape a webhook sender uses: JSON (bare or wrapped in
 * `message`), form-encoded, or the query string. Pure: the HTTP function reads the body and
 * the query, turns each into a field record here, and passes them to `parseOptOut`.
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
 * `phone` is deliberately not an alias: the issue names only the list above, and every
 * extra alias is one more way for an unrelated field to be taken for the number.
 * With several sources (`parseOptOut(query, body)`), each field is resolved per source and
 * a later source that has the field overrides an earlier one, whichever alias each used.
 * Within one source, two keys differing only in case: the later key wins.
 *
 * Values and limits:
 * - the number: a string of at most 32 characters, or a JSON number that is a non-negative
 *   safe integer (taken as its digits); then the phone-number rule of sends
 *   (phone-number.ts): `+` optional, 6-15 digits, spaces, dashes, dots and brackets ignored,
 *   a valid number of its country, refused when it cannot receive SMS;
 * - the reply text and `returnedresponse`: strings of at most 1600 UTF-16 code units (ten
 *   SMS parts and more); control characters other than tab, LF and CR, and lone
 *   surrogates, are stripped, not rejected, so a stray byte never loses an opt-out; the
 *   reply text is also trimmed;
 * - anything else (an object, an array, a boolean) for a field in use → an error naming the
 *   field as it was sent. Errors never echo values. Unknown fields are ignored.
 *
 * Note: form and query decoding turn an unencoded `+` into a space, so `?from=+353...`
 * arrives as ` 353...` and normalises to `353...`; senders must encode it as `%2B`.
 */
import * as z from 'zod';
import { type FieldError, ValidationError } from '../errors.js';
import { checkPhoneNumber, MAX_RAW_NUMBER_LENGTH } from './phone-number.js';

export { MAX_RAW_NUMBER_LENGTH };
export const MAX_REPLY_TEXT_LENGTH = 1600;
export const MAX_RETURNED_RESPONSE_LENGTH = 1600;

export const NUMBER_ALIASES = ['mobilenumber', 'mobile', 'msisdn', 'from', 'number'] as const;
export const REPLY_TEXT_ALIASES = ['optoutresponse', 'message', 'text', 'body'] as const;
const RETURNED_RESPONSE_ALIASES = ['returnedresponse'] as const;

export interface OptOutInput {
  /** Checked and normalised by the phone-number rule, as for sends (E.164 when checked). */
  mobilenumber: string;
  /** The reply text (`optoutresponse` or an alias), when the payload carried one. */
  optoutresponse?: string;
  returnedresponse?: string;
  /** True when the payload carried reply text (even blank): then only keywords count. */
  hasReplyText: boolean;
}

// C0 controls except TAB, LF, CR; DEL; C1 controls; lone surrogates.
const STRIPPED =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

const clean = (text: string): string => text.replace(STRIPPED, '');

const mobilenumber = z
  .union([z.string(), z.number()], { error: 'must be a string (or its digits as a JSON number)' })
  .transform((raw, ctx) => {
    const text =
      typeof raw === 'number' ? (Number.isSafeInteger(raw) && raw >= 0 ? String(raw) : '') : raw;
    // The one phone-number rule (phone-number.ts), as for sends.
    const checked = checkPhoneNumber(text);
    if (checked.ok) return checked.number;
    ctx.addIssue({ code: 'custom', message: checked.message });
    return z.NEVER;
  });

const boundedText = (max: number) =>
  z
    .string({ error: 'must be a string' })
    .max(max, `must be at most ${max} characters`)
    .transform(clean);

/** The canonical fields after alias resolution; the published shape of the webhook body. */
export const optOutSchema = z.object({
  mobilenumber,
  optoutresponse: boundedText(MAX_REPLY_TEXT_LENGTH)
    .transform((text) => text.trim())
    .optional(),
  returnedresponse: boundedText(MAX_RETURNED_RESPONSE_LENGTH).optional(),
});

type Field = keyof z.input<typeof optOutSchema>;

interface Found {
  /** The key as the sender spelled it, for error messages. */
  key: string;
  value: unknown;
}

const isBlank = (value: unknown): boolean =>
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
 * Merges the sources (earlier first: pass the query, then the body, so body fields
 * override) and validates. Throws ValidationError naming each bad field.
 */
export function parseOptOut(...sources: Record<string, unknown>[]): OptOutInput {
  const chosen: Partial<Record<Field, Found>> = {};
  const pick = (field: Field, found: Found | undefined): void => {
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

  const number = chosen.mobilenumber;
  if (number === undefined || isBlank(number.value)) {
    throw new ValidationError([
      {
        field: number?.key ?? 'mobilenumber',
        message: `is required (also accepted as ${NUMBER_ALIASES.slice(1).join(', ')})`,
      },
    ]);
  }

  const candidate = {
    mobilenumber: number.value,
    optoutresponse: chosen.optoutresponse?.value ?? undefined,
    returnedresponse: chosen.returnedresponse?.value ?? undefined,
  };
  const result = optOutSchema.safeParse(candidate);
  if (!result.success) {
    const errors: FieldError[] = result.error.issues.map((issue) => {
      const field = issue.path[0] as Field | undefined;
      return {
        field: (field !== undefined ? chosen[field]?.key : undefined) ?? field ?? 'body',
        message: issue.message,
      };
    });
    throw new ValidationError(errors);
  }

  const { optoutresponse, returnedresponse } = result.data;
  return {
    mobilenumber: result.data.mobilenumber,
    ...(optoutresponse !== undefined ? { optoutresponse } : {}),
    ...(returnedresponse !== undefined ? { returnedresponse } : {}),
    hasReplyText: optoutresponse !== undefined,
  };
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

/* ---------------------------------- keywords ---------------------------------- */

export const DEFAULT_OPTOUT_KEYWORDS: readonly string[] = Object.freeze([
  'STOP',
  'STOPALL',
  'UNSUBSCRIBE',
  'CANCEL',
  'END',
  'QUIT',
  'OPTOUT',
]);

/**
 * One word as keywords are compared: Unicode NFKC (full-width letters become ASCII), every
 * character that is not a letter, mark or digit removed (so `STOP.`, `"Stop!"` and
 * `opt-out` become `STOP`, `STOP`, `OPTOUT`), upper-cased.
 */
function keywordForm(word: string): string {
  return word
    .normalize('NFKC')
    .replace(/[^\p{L}\p{M}\p{N}]/gu, '')
    .toUpperCase();
}

/** Words that opt a number back in (`OPTIN_KEYWORDS`), matched by the same rule. */
export const DEFAULT_OPTIN_KEYWORDS: readonly string[] = Object.freeze([
  'START',
  'UNSTOP',
  'SUBSCRIBE',
  'YES',
]);

/**
 * A keyword setting: words separated by commas, semicolons or white space, compared as
 * `isOptOutKeyword` does (upper-cased, punctuation removed), duplicates dropped. Undefined,
 * empty or nothing usable → `defaults` (the opt-out keywords unless told otherwise).
 */
export function parseKeywords(
  setting: string | undefined,
  defaults: readonly string[] = DEFAULT_OPTOUT_KEYWORDS,
): string[] {
  const words = (setting ?? '')
    .split(/[\s,;]+/)
    .map(keywordForm)
    .filter(Boolean);
  const unique = [...new Set(words)];
  return unique.length > 0 ? unique : [...defaults];
}

/**
 * Whether a reply asks to opt out. The rule: take the first word of the reply (the first
 * white-space-separated token that has a letter or digit, so leading punctuation or an
 * emoji is skipped), reduce it as `keywordForm` does (case, surrounding and inner
 * punctuation ignored), and match it exactly against the keywords. So `Stop`, ` STOP. `,
 * `stop please` and `Opt-out` match; `don't stop` (first word DONT), `STOPPED`, `nonstop`
 * and an empty reply do not.
 */
export function isOptOutKeyword(replyText: string, keywords: readonly string[]): boolean {
  return matchKeyword(replyText, keywords) !== undefined;
}

/**
 * The keyword (in its compared form, e.g. `STOP`) the reply's first word matches, by the rule
 * of `isOptOutKeyword`; undefined when it matches none. Used for opt-in keywords too.
 */
export function matchKeyword(replyText: string, keywords: readonly string[]): string | undefined {
  let first = '';
  for (const token of replyText.split(/\s+/)) {
    first = keywordForm(token);
    if (first !== '') break;
  }
  if (first === '') return undefined;
  return keywords.some((keyword) => keywordForm(keyword) === first) ? first : undefined;
}
