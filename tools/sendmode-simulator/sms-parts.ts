/**
 * How many SMS parts a text takes, and in which encoding: approximate is fine for a simulator,
 * and it is deliberately independent of shared/sendmode/sms-text.ts, so a counting bug in the
 * connector is not copied into the thing that tests it.
 */
const GSM7_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡' +
    'ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM7_EXTENDED = new Set('^{}\\[~]|€\f');

/** Number of SMS parts: GSM-7 160 single / 153 per part; otherwise UCS-2 70 / 67. */
export function smsParts(text: string): number {
  let septets = 0;
  let gsm = true;
  for (const ch of text) {
    if (GSM7_BASIC.has(ch)) septets += 1;
    else if (GSM7_EXTENDED.has(ch)) septets += 2;
    else {
      gsm = false;
      break;
    }
  }
  if (gsm) return septets <= 160 ? 1 : Math.ceil(septets / 153);
  const units = text.length; // UTF-16 code units
  return units <= 70 ? 1 : Math.ceil(units / 67);
}

/** 'GSM-7' when every character is in the GSM 03.38 basic or extension table, else 'UCS-2'. */
export function smsEncoding(text: string): 'GSM-7' | 'UCS-2' {
  for (const ch of text) if (!GSM7_BASIC.has(ch) && !GSM7_EXTENDED.has(ch)) return 'UCS-2';
  return 'GSM-7';
}
