/**
 * One queue message body, whatever wrote it. host.json sets `messageEncoding: none`, so the host
 * hands the text over as stored, and the Node.js worker passes it on JSON-parsed when it parses
 * (an object) or as the string otherwise. Producers differ: Logic Apps, the portal, the Azure
 * CLI and the v12 SDKs write plain text; older SDKs, WebJobs and anyone following the host's old
 * default write base64. So:
 *
 * - a body that is (or parses as) JSON is that JSON;
 * - otherwise, a body that is valid base64 of a JSON object (or array) is that object;
 * - otherwise it is not a message this app can read: the text is returned as it is, and the
 *   handler's validation parks it in `<queue>-poison` at once with the reason.
 *
 * No setting picks the encoding, so no producer can get it wrong. The two never overlap: base64
 * text of JSON starts with `e`, `I`, `C`, `D`, `W` or `7` (from `{`, `[`, whitespace or a BOM),
 * which no JSON text does.
 */

const BOM = '\uFEFF';
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Standard base64 (whitespace ignored, padding optional), as producers write it. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text.startsWith(BOM) ? text.slice(1) : text) };
  } catch {
    return { ok: false };
  }
}

/** The JSON object or array base64 `text` carries, or undefined when it carries none. */
export function fromBase64Json(text: string): object | undefined {
  const compact = text.replace(/\s+/g, '');
  if (compact.length === 0 || compact.length % 4 === 1 || !BASE64.test(compact)) return undefined;
  let decoded: string;
  try {
    decoded = utf8.decode(Buffer.from(compact, 'base64'));
  } catch {
    return undefined; // not UTF-8: not text anyone meant as JSON
  }
  const parsed = parseJson(decoded);
  return parsed.ok && typeof parsed.value === 'object' && parsed.value !== null
    ? parsed.value
    : undefined;
}

/**
 * The message as its producer meant it: parsed JSON, or the original text when it is neither
 * JSON nor base64 of a JSON object (the caller's validation then says what is wrong).
 */
export function decodeQueueMessage(message: unknown): unknown {
  if (typeof message !== 'string') return message; // already parsed by the worker
  const json = parseJson(message);
  if (json.ok && typeof json.value !== 'string') return json.value;
  return fromBase64Json(message) ?? message;
}
