/**
 * One opt-out, validated: its fields picked from the webhook's sources by their aliases
 * (opt-out-fields.ts), then checked here. Pure: the HTTP function reads the body and the query,
 * turns each into a field record, and passes them to `parseOptOut`.
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
 */
import * as z from 'zod';

import { type FieldError, ValidationError } from '../errors.js';
import { chooseFields, isBlank, NUMBER_ALIASES } from './opt-out-fields.js';
import { checkPhoneNumber } from './phone-number.js';

export const MAX_REPLY_TEXT_LENGTH = 1600;
export const MAX_RETURNED_RESPONSE_LENGTH = 1600;

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

/**
 * Merges the sources (earlier first: pass the query, then the body, so body fields
 * override) and validates. Throws ValidationError naming each bad field.
 */
export function parseOptOut(...sources: Record<string, unknown>[]): OptOutInput {
  const chosen = chooseFields(sources);

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
