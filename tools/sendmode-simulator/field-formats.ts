/**
 * The value formats the simulator checks as Sendmode does: mobile numbers, sender ids, dates of
 * birth and schedule dates.
 */
export function normaliseNumber(raw: string): string {
  return raw.replace(/\s+/g, '');
}

export function isValidMobile(raw: string): boolean {
  return /^\+?\d{6,15}$/.test(normaliseNumber(raw));
}

export function isValidSenderId(s: string): boolean {
  return /^[A-Za-z0-9]{1,11}$/.test(s) || /^\d{1,16}$/.test(s);
}

function isRealDate(year: number, month: number, day: number): boolean {
  const d = new Date(Date.UTC(year, month - 1, day));
  return d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day;
}

function isValidTime(h: number, m: number, s: number): boolean {
  return h <= 23 && m <= 59 && s <= 59;
}

export function isValidDateOfBirth(s: string): boolean {
  const m = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(s);
  if (!m) return false;
  return isRealDate(Number(m[3]), Number(m[2]), Number(m[1]));
}

export function isValidScheduleDate(s: string): boolean {
  const iso =
    /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?$/.exec(
      s,
    );
  if (iso) {
    return (
      isRealDate(Number(iso[1]), Number(iso[2]), Number(iso[3])) &&
      isValidTime(Number(iso[4]), Number(iso[5]), Number(iso[6] ?? 0))
    );
  }
  const uk = /^(\d{2})\/(\d{2})\/(\d{4}) (\d{2}):(\d{2})(?::(\d{2}))?$/.exec(s);
  if (uk) {
    return (
      isRealDate(Number(uk[3]), Number(uk[2]), Number(uk[1])) &&
      isValidTime(Number(uk[4]), Number(uk[5]), Number(uk[6] ?? 0))
    );
  }
  return false;
}
