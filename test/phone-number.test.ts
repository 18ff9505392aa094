/**
 * The one phone-number rule (shared/schemas/phone-number.ts) on real-world formats, country by
 * country: valid mobiles in every way people write them, fixed lines and other numbers that
 * cannot receive SMS, numbers too short and too long, national forms with and without
 * DEFAULT_COUNTRY_CODE (as a region or as a calling code). Then the setting itself, the
 * calling-code table against libphonenumber-js's metadata, the suppression list's keys, and the
 * bundle: the metadata is loaded on first use, never when the app or its settings load.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

import metadata from 'libphonenumber-js/metadata.max.json';
import { afterAll, describe, expect, it } from 'vitest';

import { bundleApp } from '../scripts/bundle.js';
import { callingCodes } from '../shared/calling-codes.js';
import { canonicalNumber, normalisePhoneNumber } from '../shared/phone.js';
import {
  checkPhoneNumber,
  currentPhoneRule,
  NOT_A_NUMBER_MESSAGE,
  type PhoneRule,
  phoneRuleFrom,
  withPhoneRule,
} from '../shared/schemas/phone-number.js';
import { parseSettings, SettingsError } from '../shared/settings.js';
import { ROOT } from './helpers/processes.js';

const FIXED = /is a fixed-line number, which cannot receive SMS \(ALLOW_NON_MOBILE_NUMBERS=true/;
const TOLL_FREE = /is a toll-free number, which cannot receive SMS/;
const PREMIUM = /is a premium-rate number, which cannot receive SMS/;
const INVALID = /is not a valid phone number/;
const TOO_LONG = /is not a valid phone number: too long for/;
const TOO_SHORT = /is not a valid phone number: too short for/;

type Expected = string | RegExp;
/** [written, with DEFAULT_COUNTRY_CODE set, without it] */
type Row = [string, Expected, Expected];

/** Without DEFAULT_COUNTRY_CODE a national number cannot be checked: it passes as written. */
const asWritten = (written: string) => normalisePhoneNumber(written)!;

const COUNTRIES: Record<string, { region: string; callingCode: string; rows: Row[] }> = {
  Ireland: {
    region: 'IE',
    callingCode: '353',
    rows: [
      // mobiles: international, 00, national, brackets and dashes, no trunk 0, bare digits
      ['+353 87 123 4567', '+353871234567', '+353871234567'],
      ['0035387 1234567', '+353871234567', '+353871234567'],
      ['087 123 4567', '+353871234567', asWritten('087 123 4567')],
      ['(087) 123-4567', '+353871234567', asWritten('(087) 123-4567')],
      ['089-123-4567', '+353891234567', asWritten('089-123-4567')],
      ['83 123 4567', '+353831234567', asWritten('83 123 4567')],
      ['353871234567', '+353871234567', asWritten('353871234567')],
      // fixed lines (Dublin, Cork, Galway) and freephone
      ['+353 1 234 5678', FIXED, FIXED],
      ['01 234 5678', FIXED, asWritten('01 234 5678')],
      ['021 123 4567', FIXED, asWritten('021 123 4567')],
      ['091 123456', FIXED, asWritten('091 123456')],
      ['1800 123 456', TOLL_FREE, asWritten('1800 123 456')],
      // too short, too long
      ['087 123 456', INVALID, asWritten('087 123 456')],
      ['+353 87 123 45', INVALID, INVALID],
      ['+353 87 123 456789', TOO_LONG, TOO_LONG],
      ['+35300000000', INVALID, INVALID],
    ],
  },
  'United Kingdom': {
    region: 'GB',
    callingCode: '44',
    rows: [
      ['+44 7400 123456', '+447400123456', '+447400123456'],
      ['+44 (0)7911 123456', '+447911123456', '+447911123456'],
      ['0044 7911 123456', '+447911123456', '+447911123456'],
      ['07911 123456', '+447911123456', asWritten('07911 123456')],
      ['447911123456', '+447911123456', asWritten('447911123456')],
      ['020 7946 0000', FIXED, asWritten('020 7946 0000')],
      ['+44 161 496 0000', FIXED, FIXED],
      ['0800 123 4567', TOLL_FREE, asWritten('0800 123 4567')],
      ['09091 234567', PREMIUM, asWritten('09091 234567')],
      ['07400 12345', INVALID, asWritten('07400 12345')],
      ['07400 1234567', TOO_LONG, asWritten('07400 1234567')],
      // Ofcom's drama range: never assigned
      ['+44 7700 900123', INVALID, INVALID],
    ],
  },
  'United States': {
    region: 'US',
    callingCode: '1',
    rows: [
      // the metadata cannot tell US mobiles from fixed lines: such numbers pass
      ['+1 201 555 0123', '+12015550123', '+12015550123'],
      ['(201) 555-0123', '+12015550123', asWritten('(201) 555-0123')],
      ['1-201-555-0123', '+12015550123', asWritten('1-201-555-0123')],
      ['+1 416 555 0123', '+14165550123', '+14165550123'], // Canada shares +1
      ['+1 800 555 0123', TOLL_FREE, TOLL_FREE],
      ['1 800 555 0123', TOLL_FREE, asWritten('1 800 555 0123')],
      ['201 555 012', TOO_SHORT, asWritten('201 555 012')],
      ['+1 201 555 01234', TOO_LONG, TOO_LONG],
      ['+1 099 555 0123', INVALID, INVALID],
    ],
  },
  Germany: {
    region: 'DE',
    callingCode: '49',
    rows: [
      ['+49 151 23456789', '+4915123456789', '+4915123456789'],
      ['0049 170 1234567', '+491701234567', '+491701234567'],
      ['0151 23456789', '+4915123456789', asWritten('0151 23456789')],
      ['0176 12345678', '+4917612345678', asWritten('0176 12345678')],
      ['+49 30 1234567', FIXED, FIXED],
      ['030 12345678', FIXED, asWritten('030 12345678')],
      ['089 1234567', FIXED, asWritten('089 1234567')],
      ['0800 1234567', TOLL_FREE, asWritten('0800 1234567')],
      ['0151 234', INVALID, asWritten('0151 234')],
      ['+49 151 2345678901', INVALID, INVALID],
    ],
  },
  India: {
    region: 'IN',
    callingCode: '91',
    rows: [
      ['+91 98765 43210', '+919876543210', '+919876543210'],
      ['0091 98765 43210', '+919876543210', '+919876543210'],
      ['098765 43210', '+919876543210', asWritten('098765 43210')],
      ['9876543210', '+919876543210', asWritten('9876543210')],
      ['+91 70123 45678', '+917012345678', '+917012345678'],
      ['+91 11 2345 6789', FIXED, FIXED],
      ['011 2345 6789', FIXED, asWritten('011 2345 6789')],
      ['022 2345 6789', FIXED, asWritten('022 2345 6789')],
      ['1800 123 4567', TOLL_FREE, asWritten('1800 123 4567')],
      ['98765 4321', INVALID, asWritten('98765 4321')],
      ['+91 98765 432100', INVALID, INVALID],
    ],
  },
};

function expectVerdict(written: string, rule: PhoneRule, expected: Expected) {
  const checked = checkPhoneNumber(written, rule);
  if (typeof expected === 'string') {
    expect(checked, written).toEqual({ ok: true, number: expected });
    return;
  }
  expect(checked.ok, written).toBe(false);
  const message = checked.ok ? '' : checked.message;
  expect(message, written).toMatch(expected);
  // Masked: the last three digits, never the number.
  const digits = written.replace(/\D/g, '');
  expect(message).toMatch(new RegExp(`^\\*+${digits.slice(-3)} `));
  expect(message).not.toContain(digits.slice(-7));
}

describe.each(Object.entries(COUNTRIES))('%s', (_country, { region, callingCode, rows }) => {
  const byRegion = phoneRuleFrom(parseSettings({ DEFAULT_COUNTRY_CODE: region }));
  const byCode = phoneRuleFrom(parseSettings({ DEFAULT_COUNTRY_CODE: `+${callingCode}` }));
  const none = phoneRuleFrom(parseSettings({}));
  const allowed = { ...byRegion, allowNonMobile: true };

  it.each(rows)('%s', (written, withCountry, without) => {
    expectVerdict(written, byRegion, withCountry);
    // A region and its calling code read numbers alike.
    expect(checkPhoneNumber(written, byCode)).toEqual(checkPhoneNumber(written, byRegion));
    expectVerdict(written, none, without);
    // ALLOW_NON_MOBILE_NUMBERS: a number that cannot receive SMS passes, in E.164; others as they were.
    const verdict = checkPhoneNumber(written, allowed);
    if (withCountry === FIXED || withCountry === TOLL_FREE || withCountry === PREMIUM) {
      expect(verdict).toMatchObject({ ok: true, number: expect.stringMatching(/^\+\d+$/) });
    } else {
      expect(verdict).toEqual(checkPhoneNumber(written, byRegion));
    }
  });
});

describe('anything else', () => {
  const rule = phoneRuleFrom(parseSettings({ DEFAULT_COUNTRY_CODE: 'IE' }));

  it.each([
    ['letters', '087 ABC 4567'],
    ['a plus inside', '087+1234567'],
    ['too few digits to be any number', '12345'],
    ['more than 15 digits', '+353 87 123 4567 8901'],
    ['over 32 characters', `${' '.repeat(20)}+353871234567`],
    ['not a string', 353871234567],
    ['empty', ''],
  ])('%s is not a phone number (and is not echoed)', (_name, raw) => {
    expect(checkPhoneNumber(raw, rule)).toEqual({ ok: false, message: NOT_A_NUMBER_MESSAGE });
  });

  it('a country calling code that does not exist is named so', () => {
    expect(checkPhoneNumber('+999 123 4567', rule)).toEqual({
      ok: false,
      message: '*******567 is not a valid phone number: it starts with no country calling code',
    });
  });

  it('reads the process settings, unless a tool runs it with its own', () => {
    const ie = phoneRuleFrom(parseSettings({ DEFAULT_COUNTRY_CODE: 'IE' }));
    const de = phoneRuleFrom(parseSettings({ DEFAULT_COUNTRY_CODE: 'DE' }));
    expect(withPhoneRule(ie, () => checkPhoneNumber('0151 23456789'))).toMatchObject({ ok: false });
    expect(withPhoneRule(de, () => checkPhoneNumber('0151 23456789'))).toEqual({
      ok: true,
      number: '+4915123456789',
    });
    expect(withPhoneRule(de, () => withPhoneRule(ie, currentPhoneRule))).toEqual(ie);
    expect(currentPhoneRule()).not.toBe(de);
  });
});

describe('DEFAULT_COUNTRY_CODE', () => {
  it.each([
    ['IE', '353'],
    ['ie', '353'],
    ['GB', '44'],
    ['US', '1'],
    ['CA', '1'],
    ['353', '353'],
    ['+353', '353'],
    [' 44 ', '44'],
    ['1', '1'],
  ])('takes %j as calling code %s', (value, code) => {
    expect(parseSettings({ DEFAULT_COUNTRY_CODE: value }).DEFAULT_COUNTRY_CODE).toBe(code);
  });

  it.each(['XX', 'IRL', '999', '0', '+', '3531', 'Ireland'])(
    'refuses %j, naming the setting',
    (value) => {
      expect(() => parseSettings({ DEFAULT_COUNTRY_CODE: value })).toThrow(
        /DEFAULT_COUNTRY_CODE: must be a region such as IE or GB, or a country calling code/,
      );
    },
  );

  it('says the United Kingdom is GB', () => {
    try {
      parseSettings({ DEFAULT_COUNTRY_CODE: 'UK' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(SettingsError);
      expect((error as SettingsError).problems).toEqual([
        'DEFAULT_COUNTRY_CODE: must be a region such as IE or GB (the United Kingdom is GB), or a country calling code such as 353 or +44',
      ]);
    }
  });

  it('empty is unset; ALLOW_NON_MOBILE_NUMBERS is false unless true', () => {
    expect(parseSettings({ DEFAULT_COUNTRY_CODE: '' }).DEFAULT_COUNTRY_CODE).toBeUndefined();
    expect(parseSettings({}).ALLOW_NON_MOBILE_NUMBERS).toBe(false);
    expect(parseSettings({ ALLOW_NON_MOBILE_NUMBERS: 'TRUE' }).ALLOW_NON_MOBILE_NUMBERS).toBe(true);
    expect(() => parseSettings({ ALLOW_NON_MOBILE_NUMBERS: 'yes' })).toThrow(
      /ALLOW_NON_MOBILE_NUMBERS: must be true or false/,
    );
  });

  it("reads regions with a table that is libphonenumber-js's own (kept in step on upgrades)", () => {
    const expected = new Map<string, string>();
    for (const [code, regions] of Object.entries(metadata.country_calling_codes)) {
      for (const region of regions) expected.set(region, code);
    }
    expect(new Map([...callingCodes()].sort())).toEqual(new Map([...expected].sort()));
  });
});

describe('the suppression list keys', () => {
  // Numbers already stored keep matching: for every way of writing a number the old rule took
  // (international, 00, national with its trunk 0), the new form has the key the old one had.
  const keyed = Object.values(COUNTRIES).flatMap(({ region, callingCode, rows }) =>
    rows
      .filter(([written, expected]) => typeof expected === 'string' && /^\s*(\+|0)/.test(written))
      .filter(([written]) => !written.includes('(0)'))
      .map(([written, expected]) => ({ region, callingCode, written, e164: expected as string })),
  );

  it.each(keyed)('$written ($region)', ({ callingCode, written, e164 }) => {
    const old = normalisePhoneNumber(written)!;
    expect(canonicalNumber(e164, callingCode)).toBe(canonicalNumber(old, callingCode));
    expect(canonicalNumber(e164)).toBe(e164.slice(1));
  });

  it('covers every country of the table', () => {
    expect(new Set(keyed.map((k) => k.region))).toEqual(
      new Set(Object.values(COUNTRIES).map((c) => c.region)),
    );
  });
});

describe('the metadata is loaded on first use', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'phone-bundle-'));
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('not by the app at import, nor by the settings its start-up hook reads: by the handlers', async () => {
    const { metafile } = await bundleApp({ outdir });
    const outputs = metafile.outputs;
    const name = (file: string) => relative(outdir, join(ROOT, file));
    const byName = new Map(Object.entries(outputs).map(([file, output]) => [name(file), output]));
    const holding = (input: string) =>
      [...byName].filter(([, o]) => Object.keys(o.inputs).some((i) => i.includes(input)));
    /** The files loading `file` reads: its static imports, transitively. */
    const loads = (file: string, seen = new Set<string>()): Set<string> => {
      if (seen.has(file)) return seen;
      seen.add(file);
      for (const imported of byName.get(file)?.imports ?? []) {
        if (imported.kind === 'import-statement' && !imported.external)
          loads(name(imported.path), seen);
      }
      return seen;
    };
    const metadataFiles = holding('libphonenumber-js/metadata.max.json').map(([file]) => file);
    expect(metadataFiles).toHaveLength(1);
    const [settingsChunk] = holding('shared/settings.ts').map(([file]) => file);
    expect(loads('main.js')).not.toContain(metadataFiles[0]);
    expect(loads(settingsChunk!)).not.toContain(metadataFiles[0]);
    const [sendSms] = holding('functions/handlers/send-sms.ts').map(([file]) => file);
    expect(loads(sendSms!)).toContain(metadataFiles[0]);
  });
});
