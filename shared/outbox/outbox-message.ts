/**
 * One message on the send queue (`sms-outbox`): a send request in the shape `POST /api/sms`
 * takes (bare, or wrapped in `message`), with an optional `id` at the top: the producer's own
 * reference for this send, which its status is looked up by. Without one, the Storage message id
 * of the first delivery is its id (the handler writes it into the message before any retry).
 */
import { ValidationError } from '../errors.js';
import { isIsoDateTime, parseSendSms, type SendSmsInput } from '../schemas/send-sms.js';
import { unwrap } from '../schemas/validate.js';

export const MAX_SEND_ID_LENGTH = 128;
const SEND_ID = /^[\x20-\x7e]{1,128}$/;

export interface OutboxMessage {
  id: string;
  sms: SendSmsInput;
}

/** The id a message carries, when it carries a valid one; throws when it carries a bad one. */
export function idOf(payload: unknown): string | undefined {
  if (typeof payload !== 'object' || payload === null || !('id' in payload)) return undefined;
  const id = (payload as { id: unknown }).id;
  if (typeof id !== 'string' || !SEND_ID.test(id)) {
    throw new ValidationError([
      {
        field: 'id',
        message: `must be 1-${MAX_SEND_ID_LENGTH} printable ASCII characters`,
      },
    ]);
  }
  return id;
}

/** `payload` with `id` set when it has none (an object; anything else is left as it is). */
export function withId(payload: unknown, id: string): unknown {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return payload;
  return 'id' in payload ? payload : { id, ...payload };
}

/**
 * Validates a message; throws ValidationError naming each bad field. A `scheduledate` that has
 * come while the message waited is due: the send goes now, without it.
 */
export function parseOutboxMessage(payload: unknown, now = Date.now()): OutboxMessage {
  const id = idOf(payload);
  const sms = parseSendSms(withoutPastSchedule(payload, now));
  // (Only without a Storage message id, which the handler writes in as the id.)
  if (id === undefined) throw new ValidationError([{ field: 'id', message: 'is missing' }]);
  return { id, sms };
}

function withoutPastSchedule(payload: unknown, now: number): unknown {
  const body = unwrap(payload, 'message', 'messagetext');
  if (typeof body !== 'object' || body === null) return payload;
  const { scheduledate, ...rest } = body as Record<string, unknown>;
  return isIsoDateTime(scheduledate) && Date.parse(scheduledate) <= now ? rest : payload;
}
