/** Phone numbers: one normalisation for sends, imports and opt-outs, and one mask for logs. */

const SEPARATORS = /[\s\-.()]/g;
const PLAUSIBLE = /^\+?\d{6,15}$/;

/** Strips spaces, dashes, dots and brackets; returns undefined when what is left is not `+`? and 6-15 digits. */
export function normalisePhoneNumber(raw: string): string | undefined {
  const stripped = raw.replace(SEPARATORS, '');
  return PLAUSIBLE.test(stripped) ? stripped : undefined;
}

/** Keeps only the last three digits: `******123`. Safe for logs and error bodies. */
export function maskPhoneNumber(number: string): string {
  const digits = number.replace(/\D/g, '');
  if (digits.length <= 3) return '***';
  return `${'*'.repeat(Math.min(digits.length - 3, 12))}${digits.slice(-3)}`;
}
