/**
 * The app's own wrapping of a queue message: the payload as its producer wrote it, with what
 * travels alongside it. Retries and deferrals count attempts in it (so a delay can grow and a
 * poison message can say why); every message the app writes while traced carries the W3C
 * `traceparent` of the work that wrote it. Messages from other producers are read bare.
 */
export const ENVELOPE_KIND = 'sendmode-connector/retry';

export interface Envelope {
  kind: typeof ENVELOPE_KIND;
  /** Failed attempts so far. */
  attempts: number;
  /** Times the message waited for the shared limit (not counted as attempts). */
  deferrals: number;
  /** The moment of the limiter slot reserved for this message (ms since the epoch). */
  reservation?: number;
  lastError?: string;
  /** The trace of the work that wrote the message (W3C trace context). */
  traceparent?: string;
  payload: unknown;
}

export function isEnvelope(value: unknown): value is Envelope {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { kind?: unknown }).kind === ENVELOPE_KIND &&
    typeof (value as { attempts?: unknown }).attempts === 'number'
  );
}

/**
 * `message` as it is written with `traceparent`: an envelope gets the field; a bare payload is
 * wrapped in a fresh envelope (no attempts yet). Without a trace the message is left as it is.
 */
export function withTraceparent(message: unknown, traceparent: string | undefined): unknown {
  if (traceparent === undefined) return message;
  if (isEnvelope(message)) return { ...message, traceparent };
  const envelope: Envelope = {
    kind: ENVELOPE_KIND,
    attempts: 0,
    deferrals: 0,
    traceparent,
    payload: message,
  };
  return envelope;
}
