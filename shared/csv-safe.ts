/**
 * CSV cells safe to open in a spreadsheet. A cell starting with `= + - @`, tab or CR is one
 * Excel or Sheets would run as a formula (CSV injection), so it is written with a leading `'`,
 * which spreadsheets show as text. `undefuseCell` takes that `'` off again, so a file we wrote
 * can be read back (the import's rejects file, fixed and imported again) with the same values.
 */

const FORMULA_START = /^[=+\-@\t\r]/;
const DEFUSED = /^'[=+\-@\t\r]/;

/** The cell a spreadsheet will not run: `'` before a formula-like start. */
export function defuseCell(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

/** The cell as it was before `defuseCell`. */
export function undefuseCell(value: string): string {
  return DEFUSED.test(value) ? value.slice(1) : value;
}

/** A CSV field: defused, then quoted when it holds a comma, quote or line break. */
export function csvField(value: string | undefined): string {
  const text = defuseCell(value ?? '');
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
