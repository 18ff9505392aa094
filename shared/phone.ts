/**
 * Phone numbers: the shape every number must have first (the whole rule, with libphonenumber-js:
 * shared/schemas/phone-number.ts), the suppression list's key, and one mask for logs. Kept free of
 * the metadata: logging and the settings import this.
 */

const SEPARATORS = /[\s\-.()]/g;
const PLAUSIBLE = /^\+?\d{6,15}$/;

/** Strips spaces, dashes, dots and brackets; returns undefined when what is left is not `+`? and 6-15 digits. */
export function normalisePhoneNumber(raw: string): string | undefined {
  const stripped = raw.replace(SEPARATORS, '');
  return PLAUSIBLE.test(stripped) ? stripped : undefined;
}

/**
 * The key under which a number is suppressed: international digits without `+` or `00`, so
 * `+353 87…`, `00353 87…` and `353 87…` are one number. A national number (leading 0) becomes
 * international only with a default country code; without one it stays as written.
 */
export function canonicalNumber(normalised: string, defaultCountryCode?: string): string {
  let digits = normalised.startsWith('+') ? normalised.slice(1) : normalised;
  if (digits.startsWith('00')) digits = digits.slice(2);
  else if (defaultCountryCode && digits.startsWith('0'))
    digits = defaultCountryCode + digits.slice(1);
  return digits;
}

/** Keeps only the last three digits: `******123`. Safe for logs and error bodies. */
export function maskPhoneNumber(number: string): string {
  const digits = number.replace(/\D/g, '');
  if (digits.length <= 3) return '***';
  return `${'*'.repeat(Math.min(digits.length - 3, 12))}${digits.slice(-3)}`;
}
