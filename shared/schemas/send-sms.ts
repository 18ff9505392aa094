/**
 * The send-sms request: one schema for validation, the TypeScript type and, later, the
 * published API description. Limits are documented in the README.
 */
import * as z from 'zod';

import { MAX_SMS_PARTS, measureSms, smartEncoded } from '../sendmode/sms-text.js';
import { getSettings } from '../settings.js';
import { checkPhoneNumber, currentPhoneRule } from './phone-number.js';
import { unwrap, validate } from './validate.js';

export const MAX_RECIPIENTS = 1000;
export const MAX_CUSTOMER_ID_LENGTH = 100;
/** How far ahead a send may be scheduled. */
export const MAX_SCHEDULE_DAYS = 365;

const messagetext = z
  .string({ error: 'is required and must be a string' })
  .refine((text) => text.trim().length > 0, 'must not be empty')
  .refine(
    // Counted as it will be sent: with SMART_ENCODING on, after its look-alikes are replaced.
    (text) =>
      measureSms(smartEncoded(text, getSettings().SMART_ENCODING === 'on')).parts <= MAX_SMS_PARTS,
    `is too long: at most ${MAX_SMS_PARTS} SMS parts (1530 GSM-7 or 670 UCS-2 characters)`,
  );

const recipients = z
  .array(z.unknown(), { error: 'is required and must be an array of phone numbers' })
  .min(1, 'must list at least one phone number')
  .max(MAX_RECIPIENTS, `must list at most ${MAX_RECIPIENTS} phone numbers`)
  .transform((list, ctx) => {
    const rule = currentPhoneRule();
    const unique = new Set<string>();
    list.forEach((raw, index) => {
      const checked = checkPhoneNumber(raw, rule);
      if (checked.ok) unique.add(checked.number);
      else ctx.addIssue({ code: 'custom', path: [index], message: checked.message });
    });
    return [...unique];
  });

const senderid = z
  .string({ error: 'must be a string' })
  .regex(/^(?:[A-Za-z0-9]{1,11}|\d{1,16})$/, 'must be 1-11 letters or digits, or up to 16 digits');

const customerid = z
  .string({ error: 'must be a string' })
  .max(MAX_CUSTOMER_ID_LENGTH, `must be at most ${MAX_CUSTOMER_ID_LENGTH} characters`);

const isoDateTime = z.iso.datetime({ offset: true });

/** An ISO 8601 date-time with a time zone, as `scheduledate` must be. */
export function isIsoDateTime(value: unknown): value is string {
  return isoDateTime.safeParse(value).success;
}

const scheduledate = z.string({ error: 'must be a string' }).superRefine((value, ctx) => {
  if (!isoDateTime.safeParse(value).success) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be an ISO 8601 date-time with a time zone, e.g. 2030-01-31T09:00:00Z',
    });
    return;
  }
  const at = Date.parse(value);
  if (at <= Date.now()) ctx.addIssue({ code: 'custom', message: 'must be in the future' });
  if (at > Date.now() + MAX_SCHEDULE_DAYS * 86_400_000) {
    ctx.addIssue({ code: 'custom', message: `must be at most ${MAX_SCHEDULE_DAYS} days ahead` });
  }
});

export const sendSmsSchema = z.object(
  {
    messagetext,
    recipients,
    senderid: senderid.optional(),
    customerid: customerid.optional(),
    scheduledate: scheduledate.optional(),
  },
  { error: 'must be a JSON object' },
);

export type SendSmsInput = z.output<typeof sendSmsSchema>;

/** Validates a send-sms body, bare or wrapped in `message`; throws ValidationError naming each bad field. */
export function parseSendSms(body: unknown): SendSmsInput {
  return validate(sendSmsSchema, unwrap(body, 'message', 'messagetext'));
}
