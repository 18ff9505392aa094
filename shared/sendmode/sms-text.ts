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

/* ------------------------------- smart encoding ------------------------------- */

/**
 * Characters phones and mail clients put in by themselves that have a GSM-7 look-alike, and
 * what each becomes (SMART_ENCODING; listed in the README). Letters with accents GSM-7 lacks
 * (á, ç, ê, …) are not here: replacing them would change the spelling, not the look.
 */
export const GSM7_LOOK_ALIKES: Readonly<Record<string, string>> = Object.freeze({
  // single quotes, apostrophes, primes and accents used as apostrophes
  ...same("'", '\u2018\u2019\u201A\u201B\u2032\u2035\u02BC\u02BB\u02B9\u00B4\u0060\u2039\u203A'),
  // double quotes, double primes and guillemets
  ...same('"', '\u201C\u201D\u201E\u201F\u2033\u2036\u02BA\u00AB\u00BB'),
  // hyphens, dashes and minus signs
  ...same('-', '\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\uFE58\uFE63'),
  '\u2026': '...', // horizontal ellipsis
  // no-break, fixed-width and other spaces, and tab
  ...same(' ', '\u0009\u00A0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009'),
  ...same(' ', '\u200A\u202F\u205F\u3000'),
  // invisible: zero-width space, word joiner, byte order mark, soft hyphen
  ...same('', '\u200B\u2060\uFEFF\u00AD'),
  // line and paragraph separators
  ...same('\n', '\u2028\u2029'),
  // slashes, circumflex and tilde
  ...same('/', '\u2044\u2215'),
  '\u02C6': '^',
  '\u02DC': '~',
  // full-width forms of ASCII (CJK keyboards): ！ → !, Ａ → A, ０ → 0, …
  ...fullWidthForms(),
});

function same(to: string, from: string): Record<string, string> {
  return Object.fromEntries([...from].map((char) => [char, to]));
}

/** U+FF01-U+FF5E are ASCII 0x21-0x7E shifted; the grave accent (no GSM-7 form) is left out. */
function fullWidthForms(): Record<string, string> {
  const forms: Record<string, string> = {};
  for (let code = 0x21; code <= 0x7e; code++) {
    const ascii = String.fromCharCode(code);
    if (basic.has(ascii) || extension.has(ascii)) forms[String.fromCharCode(code + 0xfee0)] = ascii;
  }
  forms['\uFF40'] = "'"; // full-width grave accent, as the grave accent
  return forms;
}

export interface SmartEncoded {
  text: string;
  /** Characters replaced (or removed). */
  replaced: number;
}

/**
 * The text with its look-alikes replaced, when that makes it GSM-7. A text that is GSM-7
 * already, or that something else (an emoji, a letter of another script) keeps in UCS-2, is
 * left exactly as it is: replacing would save nothing.
 */
export function smartEncode(text: string): SmartEncoded {
  if (isGsm7(text)) return { text, replaced: 0 };
  let out = '';
  let replaced = 0;
  for (const char of text) {
    const alike = GSM7_LOOK_ALIKES[char];
    if (alike === undefined) {
      out += char;
    } else {
      out += alike;
      replaced += 1;
    }
  }
  return isGsm7(out) ? { text: out, replaced } : { text, replaced: 0 };
}

/** The text as it is sent: with SMART_ENCODING on, `smartEncode`d; off, exactly as given. */
export function smartEncoded(text: string, on: boolean): string {
  return on ? smartEncode(text).text : text;
}

/** What every send answer reports of its text (`sms`), as sent. */
export interface SmsReport {
  encoding: SmsEncoding;
  parts: number;
  /** As the parts count them: GSM-7 septets (extension characters two) or UTF-16 code units. */
  characters: number;
  /** Look-alikes replaced by smart encoding (0 when it is off or changed nothing). */
  replaced: number;
}

export function describeSms(text: string, smartEncoding: boolean): SmsReport {
  const sent = smartEncoding ? smartEncode(text) : { text, replaced: 0 };
  const { encoding, parts, units } = measureSms(sent.text);
  return { encoding, parts, characters: units, replaced: sent.replaced };
}
