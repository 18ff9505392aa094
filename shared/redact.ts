/** Keeps phone numbers out of text that may reach logs or error bodies. */
import { maskPhoneNumber } from './phone.js';

/** A run of 6+ digits, possibly with a leading + and separators: long enough to be a number. */
const DIGIT_RUN = /\+?\d[\d\s\-.()]{4,}\d/g;

export function scrubPhoneNumbers(text: string): string {
  return text.replace(DIGIT_RUN, (match) =>
    match.replace(/\D/g, '').length >= 6 ? maskPhoneNumber(match) : match,
  );
}
