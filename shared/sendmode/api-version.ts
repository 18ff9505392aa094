/**
 * What each Sendmode API generation offers, and what a send must carry for it. No wire format
 * here (that is in client.ts and client-v3.ts): only which operations exist and which fields a
 * generation needs, checked before any key is read or limiter slot taken, so a request the
 * configured generation cannot carry is refused clearly and costs nothing.
 */
import { type FieldError, NotOfferedError, ValidationError } from '../errors.js';
import { canonicalNumber, maskPhoneNumber } from '../phone.js';
import type { SendmodeApiVersion, Settings } from '../settings.js';
import type { SendSmsRequest } from './api.js';
import { smartEncoded } from './sms-text.js';

export type SendmodeOperation = 'send' | 'credits' | 'import' | 'optout';

export const API_GENERATION_NAMES: Record<SendmodeApiVersion, string> = {
  v2: 'v2 (REST v2)',
  v3: 'v3 (Engage, 3.0)',
};

/** 3.0 has no public description of credits, contact import or opt-out calls (docs/sendmode-api-v3.md). */
const OFFERED: Record<SendmodeApiVersion, ReadonlySet<SendmodeOperation>> = {
  v2: new Set(['send', 'credits', 'import', 'optout']),
  v3: new Set(['send']),
};

const DOING: Record<SendmodeOperation, string> = {
  send: 'sending SMS',
  credits: 'checking the credit balance',
  import: 'importing customers',
  optout: "adding a number to Sendmode's opt-out list",
};

/** v3 sender ids as reported: letters and digits, at most 15 (unconfirmed). */
const V3_SENDER_ID = /^[A-Za-z0-9]{1,15}$/;

export function offers(version: SendmodeApiVersion, operation: SendmodeOperation): boolean {
  return OFFERED[version].has(operation);
}

function generation(version: SendmodeApiVersion): string {
  return `The configured Sendmode API generation, ${API_GENERATION_NAMES[version]} (SENDMODE_API_VERSION=${version}),`;
}

/** The 501 for an operation the generation lacks: permanent, so queue messages go to poison. */
export function notOffered(
  version: SendmodeApiVersion,
  operation: SendmodeOperation,
): NotOfferedError {
  return new NotOfferedError(
    `${generation(version)} offers no call for ${DOING[operation]}; nothing was sent to Sendmode.`,
  );
}

/** Throws the 501 when the generation lacks the operation. */
export function assertOffered(version: SendmodeApiVersion, operation: SendmodeOperation): void {
  if (!offers(version, operation)) throw notOffered(version, operation);
}

export interface SendRules {
  version: SendmodeApiVersion;
  /** Used when the request names no senderid. */
  defaultSenderId?: string;
  /** Turns national numbers (leading 0) international, for v3. */
  defaultCountryCode?: string;
  /** SMART_ENCODING: look-alikes replaced when that keeps the text GSM-7; unset, off. */
  smartEncoding?: boolean;
}

export function sendRulesFrom(settings: Settings): SendRules {
  return {
    version: settings.SENDMODE_API_VERSION,
    ...(settings.DEFAULT_SENDER_ID ? { defaultSenderId: settings.DEFAULT_SENDER_ID } : {}),
    ...(settings.DEFAULT_COUNTRY_CODE ? { defaultCountryCode: settings.DEFAULT_COUNTRY_CODE } : {}),
    smartEncoding: settings.SMART_ENCODING === 'on',
  };
}

/**
 * The send as the configured generation will carry it: the default sender id applied, the text
 * smart-encoded (with SMART_ENCODING on: see sms-text.ts), and for v3 a sender id required,
 * numbers made international (`+353…`) and scheduling refused (3.0 has no known scheduling
 * field). Throws ValidationError (400) or NotOfferedError (501).
 */
export function prepareSend(sms: SendSmsRequest, rules: SendRules): SendSmsRequest {
  const senderid = sms.senderid ?? rules.defaultSenderId;
  const messagetext = smartEncoded(sms.messagetext, rules.smartEncoding === true);
  const prepared =
    senderid === undefined && messagetext === sms.messagetext
      ? sms
      : { ...sms, messagetext, ...(senderid === undefined ? {} : { senderid }) };
  return rules.version === 'v3' ? prepareForV3(prepared, rules.defaultCountryCode) : prepared;
}

function prepareForV3(sms: SendSmsRequest, defaultCountryCode?: string): SendSmsRequest {
  if (sms.scheduledate !== undefined) {
    throw new NotOfferedError(
      `${generation('v3')} offers no scheduled sending; queue the send instead (Prefer: respond-async, or a message on the send queue), and the app holds it until its time.`,
      [{ field: 'scheduledate', message: 'is not offered by Sendmode API v3' }],
    );
  }
  const errors: FieldError[] = [];
  if (sms.senderid === undefined) {
    errors.push({
      field: 'senderid',
      message: 'is required with Sendmode API v3: send one, or set DEFAULT_SENDER_ID',
    });
  } else if (!V3_SENDER_ID.test(sms.senderid)) {
    errors.push({
      field: 'senderid',
      message: 'must be 1-15 letters or digits with Sendmode API v3',
    });
  }
  const recipients = new Set<string>();
  sms.recipients.forEach((number, index) => {
    const digits = canonicalNumber(number, defaultCountryCode);
    if (digits.startsWith('0')) {
      errors.push({
        field: `recipients/${index}`,
        message: `${maskPhoneNumber(number)} is a national number; Sendmode API v3 needs the international form (+353...): write it so, or set DEFAULT_COUNTRY_CODE`,
      });
    }
    recipients.add(`+${digits}`);
  });
  if (errors.length > 0) {
    throw new ValidationError(errors, 'The request cannot be sent with Sendmode API v3.');
  }
  return { ...sms, recipients: [...recipients] };
}
