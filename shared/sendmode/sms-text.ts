/**
 * Counts SMS parts the way handsets and carriers do: GSM 03.38 7-bit when every character
 * is in the GSM alphabet (extension characters take two septets), otherwise UCS-2
 * (UTF-16 code units). A part boundary never splits an escape pair or a surrogate pair.
 */

const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXTENSION = '^{}\\[~]|€\f';

const basic = new Set(GSM_BASIC);
const extension = new Set(GSM_EXTENSION);

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface SmsLength {
  encoding: SmsEncoding;
  /** Septets (GSM-7) or UTF-16 code units (UCS-2). */
  units: number;
  parts: number;
}

const LIMITS = {
  'GSM-7': { single: 160, perPart: 153 },
  'UCS-2': { single: 70, perPart: 67 },
} as const;

/** The most parts one message may use: 10 concatenated parts, a common carrier ceiling. */
export const MAX_SMS_PARTS = 10;
export const MAX_GSM7_UNITS = LIMITS['GSM-7'].perPart * MAX_SMS_PARTS;
export const MAX_UCS2_UNITS = LIMITS['UCS-2'].perPart * MAX_SMS_PARTS;

export function isGsm7(text: string): boolean {
  for (const char of text) {
    if (!basic.has(char) && !extension.has(char)) return false;
  }
  return true;
}

/** Width of each indivisible piece of the text, in the encoding's units. */
function pieceWidths(text: string, encoding: SmsEncoding): number[] {
  const widths: number[] = [];
  for (const char of text) {
    widths.push(encoding === 'GSM-7' ? (extension.has(char) ? 2 : 1) : char.length);
  }
  return widths;
}

export function measureSms(text: string): SmsLength {
  const encoding: SmsEncoding = isGsm7(text) ? 'GSM-7' : 'UCS-2';
  const widths = pieceWidths(text, encoding);
  const units = widths.reduce((sum, width) => sum + width, 0);
  const { single, perPart } = LIMITS[encoding];
  if (units <= single) return { encoding, units, parts: units === 0 ? 0 : 1 };

  let parts = 1;
  let used = 0;
  for (const width of widths) {
    if (used + width > perPart) {
      parts += 1;
      used = 0;
    }
    used += width;
  }
  return { encoding, units, parts };
}
