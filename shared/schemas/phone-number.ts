/**
 * The one phone-number rule, for every way a number comes in: sends (`recipients`), customer
 * imports (`mobilenumber`, the queue, `POST /api/customers` and `npm run import`), opt-outs (the
 * webhook and its queue) and the operator routes (`/api/optouts/{number}`).
 *
 * 1. Spaces, dashes, dots and brackets are removed; what is left must be `+` optional and 6-15
 *    digits (at most 32 characters as written), as before.
 * 2. International numbers (`+353…`, `00353…`) must be valid numbers of their country, by
 *    libphonenumber-js's metadata, and are passed on in E.164 (`+353871234567`).
 * 3. Digits without a prefix, with `DEFAULT_COUNTRY_CODE` set: read as a national number of its
 *    country (`087 123 4567`, or `201 555 0123` with `US`), else, unless they start with `0`, as
 *    international digits (`353 87 123 4567`); one of the two must be valid, and is passed on
 *    in E.164. Without `DEFAULT_COUNTRY_CODE` they cannot be checked (201 555 0123 is a US
 *    number or an Egyptian one): they pass as written after the length check of step 1, as
 *    before, and Sendmode reads them in the account's country.
 * 4. A valid number the metadata says cannot receive SMS (a fixed line, toll-free, premium-rate,
 *    shared-cost, pager, voicemail or universal access number) is refused with that reason,
 *    unless `ALLOW_NON_MOBILE_NUMBERS` is set. Mobiles, numbers that may be either (the US and
 *    Canada), VoIP and personal numbers pass.
 *
 * Messages never show a whole number: `*********678 is a fixed-line number, ...`.
 *
 * The canonical form the suppression list keys on (shared/phone.ts `canonicalNumber`) is
 * unchanged: international digits without `+` or `00`, which the E.164 form gives as before.
 *
 * The metadata (libphonenumber-js's "max" set, some 150 KB, needed to tell mobiles from fixed
 * lines) comes with this module: only the handlers import it, and they are loaded on first call
 * (shared/lazy-handler.ts), so an instance's start never loads it.
 */
import {
  type NumberType,
  parsePhoneNumberFromString,
  type PhoneNumber,
  validatePhoneNumberLength,
} from 'libphonenumber-js/core';
import metadata from 'libphonenumber-js/metadata.max.json';
import * as z from 'zod';

import { maskPhoneNumber, normalisePhoneNumber } from '../phone.js';
import { getSettings, type Settings } from '../settings.js';

/** A number as written longer than this cannot be one, whatever its separators. */
export const MAX_RAW_NUMBER_LENGTH = 32;

export const NOT_A_NUMBER_MESSAGE =
  'is not a phone number: + optional, then 6-15 digits (spaces, dashes, dots and brackets are ignored)';

export interface PhoneRule {
  /** The calling code national numbers are read in (`DEFAULT_COUNTRY_CODE`), e.g. `353`. */
  defaultCallingCode?: string;
  /** `ALLOW_NON_MOBILE_NUMBERS`: valid numbers that cannot receive SMS pass too. */
  allowNonMobile: boolean;
}

export type PhoneCheck = { ok: true; number: string } | { ok: false; message: string };

export function phoneRuleFrom(
  settings: Pick<Settings, 'DEFAULT_COUNTRY_CODE' | 'ALLOW_NON_MOBILE_NUMBERS'>,
): PhoneRule {
  return {
    ...(settings.DEFAULT_COUNTRY_CODE ? { defaultCallingCode: settings.DEFAULT_COUNTRY_CODE } : {}),
    allowNonMobile: settings.ALLOW_NON_MOBILE_NUMBERS,
  };
}

let override: PhoneRule | undefined;

/** The rule in force: the process's settings, or the one `withPhoneRule` is running with. */
export function currentPhoneRule(): PhoneRule {
  return override ?? phoneRuleFrom(getSettings());
}

/**
 * Runs `parse` (synchronous) with `rule` in force instead of the process's settings: for a tool
 * that reads the app's settings from elsewhere (`npm run import` reads local.settings.json too).
 */
export function withPhoneRule<T>(rule: PhoneRule, parse: () => T): T {
  const previous = override;
  override = rule;
  try {
    return parse();
  } finally {
    override = previous;
  }
}

/** What each type that cannot receive SMS is called in a refusal. */
const NOT_FOR_SMS: Partial<Record<NonNullable<NumberType>, string>> = {
  FIXED_LINE: 'a fixed-line number',
  TOLL_FREE: 'a toll-free number',
  PREMIUM_RATE: 'a premium-rate number',
  SHARED_COST: 'a shared-cost number',
  PAGER: 'a pager number',
  VOICEMAIL: 'a voicemail access number',
  UAN: 'a universal access number',
};

let regionNames: Intl.DisplayNames | undefined;

/** `Ireland (+353)` when the metadata knows the number's country, else `+353`. */
function place(number: PhoneNumber | undefined, callingCode: string | undefined): string {
  const code = number?.countryCallingCode ?? callingCode;
  const country = number?.country;
  if (country === undefined) return code ? `+${code}` : 'its country';
  regionNames ??= new Intl.DisplayNames(['en'], { type: 'region' });
  return `${regionNames.of(country) ?? country} (+${code})`;
}

/** Why an invalid number is not one, from its length where that tells. */
function invalid(
  masked: string,
  text: string,
  options: { defaultCallingCode: string } | undefined,
  number: PhoneNumber | undefined,
): string {
  const length = options
    ? validatePhoneNumberLength(text, options, metadata)
    : validatePhoneNumberLength(text, metadata);
  const where = place(number, options?.defaultCallingCode);
  switch (length) {
    case 'INVALID_COUNTRY':
      return `${masked} is not a valid phone number: it starts with no country calling code`;
    case 'TOO_SHORT':
      return `${masked} is not a valid phone number: too short for ${where}`;
    case 'TOO_LONG':
      return `${masked} is not a valid phone number: too long for ${where}`;
    case 'INVALID_LENGTH':
      return `${masked} is not a valid phone number: the wrong length for ${where}`;
    default:
      return `${masked} is not a valid phone number for ${where}`;
  }
}

function parse(
  text: string,
  options: { defaultCallingCode: string } | undefined,
): PhoneNumber | undefined {
  return options
    ? parsePhoneNumberFromString(text, { ...options, extract: false }, metadata)
    : parsePhoneNumberFromString(text, { extract: false }, metadata);
}

/** A valid number, in E.164, unless it cannot receive SMS and the rule does not allow that. */
function accepted(number: PhoneNumber, masked: string, rule: PhoneRule): PhoneCheck {
  const kind = rule.allowNonMobile ? undefined : NOT_FOR_SMS[number.getType() ?? 'MOBILE'];
  if (kind === undefined) return { ok: true, number: number.number };
  return {
    ok: false,
    message: `${masked} is ${kind}, which cannot receive SMS (ALLOW_NON_MOBILE_NUMBERS=true accepts such numbers)`,
  };
}

/** Checks one number as written; the number to use (E.164 when it could be checked) or why not. */
export function checkPhoneNumber(raw: unknown, rule: PhoneRule = currentPhoneRule()): PhoneCheck {
  const shaped =
    typeof raw === 'string' && raw.length <= MAX_RAW_NUMBER_LENGTH
      ? normalisePhoneNumber(raw)
      : undefined;
  if (shaped === undefined) return { ok: false, message: NOT_A_NUMBER_MESSAGE };
  const masked = maskPhoneNumber(shaped);

  const prefixed = shaped.startsWith('+') || shaped.startsWith('00');
  const trunk = !prefixed && shaped.startsWith('0');
  const inCountry = rule.defaultCallingCode
    ? { defaultCallingCode: rule.defaultCallingCode }
    : undefined;

  if (prefixed) {
    const text = `+${shaped.replace(/^(\+|00)/, '')}`;
    const number = parse(text, undefined);
    if (number?.isValid()) return accepted(number, masked, rule);
    return { ok: false, message: invalid(masked, text, undefined, number) };
  }

  // Digits without a prefix: read in the default country first (a US 201 555 0123 is not an
  // Egyptian +20 1555 0123), then as international digits (353 87 123 4567).
  if (inCountry) {
    const number = parse(shaped, inCountry);
    if (number?.isValid()) return accepted(number, masked, rule);
    if (!trunk) {
      const international = parse(`+${shaped}`, undefined);
      if (international?.isValid()) return accepted(international, masked, rule);
    }
    return { ok: false, message: invalid(masked, shaped, inCountry, number) };
  }
  // No country to read it in: digits without a prefix may be national (201 555 0123 in the US)
  // or international (353 87 123 4567). Passed on as written, as before: Sendmode reads them in
  // the account's country.
  return { ok: true, number: shaped };
}

/**
 * The rule as a zod schema for a number field given as a string (`mobilenumber`): the number to
 * use, or an issue saying why not.
 */
export const phoneNumberSchema = z
  .string({ error: 'is required and must be a string' })
  .max(MAX_RAW_NUMBER_LENGTH, NOT_A_NUMBER_MESSAGE)
  .transform((raw, ctx) => {
    const checked = checkPhoneNumber(raw);
    if (checked.ok) return checked.number;
    ctx.addIssue({ code: 'custom', message: checked.message });
    return z.NEVER;
  });
