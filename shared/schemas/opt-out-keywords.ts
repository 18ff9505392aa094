/**
 * The words that opt a number out (or back in) when a reply starts with them, and how a reply is
 * matched against them: its first word, case, punctuation and full-width letters ignored.
 */

export const DEFAULT_OPT_OUT_KEYWORDS: readonly string[] = Object.freeze([
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

/** Words that opt a number back in (`OPT_IN_KEYWORDS`), matched by the same rule. */
export const DEFAULT_OPT_IN_KEYWORDS: readonly string[] = Object.freeze([
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
  defaults: readonly string[] = DEFAULT_OPT_OUT_KEYWORDS,
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
