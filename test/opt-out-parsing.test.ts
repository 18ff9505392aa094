import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { ValidationError } from '../shared/errors.js';
import { parseOptOut } from '../shared/schemas/opt-out.js';
import {
  fieldsFromForm,
  fieldsFromJson,
  fieldsFromQuery,
} from '../shared/schemas/opt-out-fields.js';
import {
  DEFAULT_OPT_OUT_KEYWORDS,
  isOptOutKeyword,
  parseKeywords,
} from '../shared/schemas/opt-out-keywords.js';

const NUMBER = '+353871234567';

/** The ValidationError `run` throws; fails the test when it throws nothing or something else. */
function validationError(run: () => unknown): ValidationError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

describe('every form and alias', () => {
  /** The same fields, in each shape a sender may use, turned into field records. */
  const forms: [string, (fields: Record<string, string>) => Record<string, unknown>][] = [
    ['bare JSON', (fields) => fieldsFromJson(JSON.parse(JSON.stringify(fields)))],
    [
      'JSON wrapped in message',
      (fields) => fieldsFromJson(JSON.parse(JSON.stringify({ message: fields }))),
    ],
    ['form-encoded', (fields) => fieldsFromForm(new URLSearchParams(fields).toString())],
    [
      'query string',
      (fields) =>
        fieldsFromQuery(
          new URL(`https://x/api/optout?${new URLSearchParams(fields)}`).searchParams,
        ),
    ],
  ];

  const numberAliases = [
    'mobilenumber',
    'mobile',
    'msisdn',
    'from',
    'number',
    'MobileNumber',
    'FROM',
    'Msisdn',
  ];
  const replyAliases = [
    'optoutresponse',
    'message',
    'text',
    'body',
    'OptOutResponse',
    'Text',
    'BODY',
  ];

  describe.each(forms)('%s', (_form, toFields) => {
    it.each(numberAliases)('takes the number from %s', (alias) => {
      const input = parseOptOut(toFields({ [alias]: '+353 (87) 123-4567' }));
      expect(input).toEqual({ mobilenumber: NUMBER, hasReplyText: false });
    });

    it.each(replyAliases)('takes the reply text from %s', (alias) => {
      const input = parseOptOut(toFields({ mobilenumber: NUMBER, [alias]: ' STOP ' }));
      expect(input).toEqual({ mobilenumber: NUMBER, optoutresponse: 'STOP', hasReplyText: true });
    });

    it('takes returnedresponse as is', () => {
      const input = parseOptOut(
        toFields({ MSISDN: '0871234567', returnedresponse: ' crm:42 ', text: 'stop please' }),
      );
      expect(input).toEqual({
        mobilenumber: '0871234567',
        optoutresponse: 'stop please',
        returnedresponse: ' crm:42 ',
        hasReplyText: true,
      });
    });

    it('names a missing number with its aliases', () => {
      const error = validationError(() => parseOptOut(toFields({ text: 'STOP' })));
      expect(error.errors).toEqual([
        {
          field: 'mobilenumber',
          message: 'is required (also accepted as mobile, msisdn, from, number)',
        },
      ]);
    });
  });

  it('ignores fields it does not know, including phone', () => {
    const error = validationError(() => parseOptOut({ phone: NUMBER, foo: 'bar' }));
    expect(error.errors.map((e) => e.field)).toEqual(['mobilenumber']);
  });
});

describe('precedence', () => {
  it.each([
    ['mobilenumber over mobile', { mobile: '111111', mobilenumber: '222222' }, '222222'],
    ['mobile over msisdn', { msisdn: '111111', mobile: '222222' }, '222222'],
    ['msisdn over from', { from: '111111', msisdn: '222222' }, '222222'],
    ['from over number', { number: '111111', from: '222222' }, '222222'],
    [
      'a non-blank alias over a blank earlier one',
      { mobilenumber: '  ', from: '222222' },
      '222222',
    ],
    ['a non-blank alias over a null one', { mobilenumber: null, number: '222222' }, '222222'],
    ['the later of two spellings in one source', { Mobile: '111111', MOBILE: '222222' }, '222222'],
  ])('number: %s', (_name, fields: Record<string, unknown>, expected) => {
    expect(parseOptOut(fields).mobilenumber).toBe(expected);
  });

  it.each([
    ['optoutresponse over message', { message: 'b', optoutresponse: 'STOP' }, 'STOP'],
    ['message over text', { text: 'b', message: 'STOP' }, 'STOP'],
    ['text over body', { body: 'b', text: 'STOP' }, 'STOP'],
    ['a non-blank alias over an empty earlier one', { optoutresponse: '', body: 'STOP' }, 'STOP'],
    ['a non-string message is skipped', { message: 42, text: 'STOP' }, 'STOP'],
    ['only blanks → the first blank', { optoutresponse: ' ', text: '' }, ''],
  ])('reply text: %s', (_name, fields: Record<string, unknown>, expected) => {
    const input = parseOptOut({ mobilenumber: NUMBER, ...fields });
    expect(input.optoutresponse).toBe(expected);
    expect(input.hasReplyText).toBe(true);
  });

  it('body fields override query fields, whichever alias each uses', () => {
    const query = fieldsFromQuery(
      new URLSearchParams('mobilenumber=111111&text=hello&returnedresponse=q'),
    );
    const body = fieldsFromJson({ from: '222222', body: 'STOP' });
    expect(parseOptOut(query, body)).toEqual({
      mobilenumber: '222222',
      optoutresponse: 'STOP',
      returnedresponse: 'q',
      hasReplyText: true,
    });
  });

  it('the query fills what the body lacks, and a blank body value does not erase it', () => {
    const query = fieldsFromQuery(new URLSearchParams('msisdn=111111&text=STOP'));
    expect(parseOptOut(query, { mobilenumber: ' ', text: '' })).toEqual({
      mobilenumber: '111111',
      optoutresponse: 'STOP',
      hasReplyText: true,
    });
    expect(parseOptOut(query, {})).toMatchObject({ mobilenumber: '111111' });
  });

  it('a bad value is reported, not skipped for a later alias', () => {
    const error = validationError(() => parseOptOut({ Mobile: 'abc', from: NUMBER }));
    expect(error.errors).toEqual([
      { field: 'Mobile', message: expect.stringContaining('is not a phone number') },
    ]);
  });

  it('no reply field, or null ones → hasReplyText false', () => {
    expect(parseOptOut({ mobilenumber: NUMBER })).toEqual({
      mobilenumber: NUMBER,
      hasReplyText: false,
    });
    expect(parseOptOut({ mobilenumber: NUMBER, text: null, optoutresponse: undefined })).toEqual({
      mobilenumber: NUMBER,
      hasReplyText: false,
    });
  });

  it('parseOptOut with no sources says the number is required', () => {
    expect(validationError(() => parseOptOut()).errors[0]?.field).toBe('mobilenumber');
  });
});

describe('fieldsFromJson', () => {
  it.each([null, [], [{ mobilenumber: NUMBER }], 'STOP', 42, true, undefined])(
    'rejects the body %j as not an object',
    (body) => {
      const error = validationError(() => fieldsFromJson(body));
      expect(error.errors).toEqual([{ field: 'body', message: 'must be a JSON object' }]);
    },
  );

  it('unwraps message (any case) when it is an object', () => {
    expect({ ...fieldsFromJson({ Message: { mobile: '1' } }) }).toEqual({ mobile: '1' });
  });

  it('keeps the outer object when it has a number of its own', () => {
    const fields = fieldsFromJson({ from: NUMBER, message: { from: '999999' } });
    expect(parseOptOut(fields)).toEqual({ mobilenumber: NUMBER, hasReplyText: false });
  });

  it('does not unwrap an array or a string message', () => {
    expect(parseOptOut(fieldsFromJson({ from: NUMBER, message: ['STOP'] })).hasReplyText).toBe(
      false,
    );
    expect(parseOptOut(fieldsFromJson({ from: NUMBER, message: 'STOP' }))).toMatchObject({
      optoutresponse: 'STOP',
    });
  });

  it('unwraps only one level', () => {
    const error = validationError(() =>
      parseOptOut(fieldsFromJson({ message: { message: { mobilenumber: NUMBER } } })),
    );
    expect(error.errors[0]?.field).toBe('mobilenumber');
  });

  it('returns a prototype-less copy', () => {
    const body = { mobilenumber: NUMBER };
    const fields = fieldsFromJson(body);
    expect(Object.getPrototypeOf(fields)).toBeNull();
    expect(fields).not.toBe(body);
  });
});

describe('fieldsFromForm and fieldsFromQuery', () => {
  it('decodes percent-escapes and + as a space', () => {
    const fields = fieldsFromForm('mobilenumber=%2B353%20871234567&text=stop+please');
    expect(parseOptOut(fields)).toEqual({
      mobilenumber: NUMBER,
      optoutresponse: 'stop please',
      hasReplyText: true,
    });
  });

  it('an unencoded + in the number decodes as a space and is lost (senders must send %2B)', () => {
    expect(parseOptOut(fieldsFromForm('from=+353871234567')).mobilenumber).toBe('353871234567');
  });

  it('keeps the first of a repeated key', () => {
    expect(fieldsFromForm('from=111111&from=222222').from).toBe('111111');
    expect(fieldsFromQuery(new URLSearchParams('from=111111&from=222222')).from).toBe('111111');
  });

  it('takes empty and malformed input without throwing', () => {
    expect({ ...fieldsFromForm('') }).toEqual({});
    expect({ ...fieldsFromForm('&&=&a&%zz=%') }).toEqual({ '': '', a: '', '%zz': '%' });
  });
});

describe('values', () => {
  it.each([
    ['a JSON number', 353871234567, '353871234567'],
    ['a JSON number with a float spelling', 3.53871234567e11, '353871234567'],
    ['surrounding white space and tabs', '\t+353 87 123 4567\n', NUMBER],
    ['exactly 32 characters', ' '.repeat(19) + '+353871234567', NUMBER],
  ])('accepts the number as %s', (_name, value, expected) => {
    expect(parseOptOut({ mobilenumber: value }).mobilenumber).toBe(expected);
  });

  it.each([
    ['too short', '12345'],
    ['too long', '1234567890123456'],
    ['letters', '35387a234567'],
    ['over 32 characters, though plausible once stripped', ' '.repeat(20) + '+353871234567'],
    ['a huge string', '1'.repeat(100_000)],
    ['a negative JSON number', -353871234567],
    ['a fractional JSON number', 3538712345.5],
    ['an unsafe JSON number', 2 ** 60],
    ['a NUL byte inside', '+35387\u00001234567'],
    ['a zero-width space inside', '+35387\u200b1234567'],
    ['full-width digits', '＋３５３８７１２３４５６７'],
  ])('rejects the number %s', (_name, value) => {
    const error = validationError(() => parseOptOut({ from: value }));
    expect(error.errors).toEqual([
      {
        field: 'from',
        message:
          'is not a phone number: + optional, then 6-15 digits (spaces, dashes, dots and brackets are ignored)',
      },
    ]);
  });

  it.each([
    ['true', true],
    ['an object', { number: NUMBER }],
    ['an array', [NUMBER]],
  ])('rejects the number as %s, naming the field', (_name, value) => {
    const error = validationError(() => parseOptOut({ msisdn: value }));
    expect(error.errors).toEqual([
      { field: 'msisdn', message: 'must be a string (or its digits as a JSON number)' },
    ]);
  });

  it.each([
    ['optoutresponse', 'optoutresponse'],
    ['text', 'text'],
    ['body', 'body'],
    ['returnedresponse', 'returnedresponse'],
  ])('rejects a non-string %s', (field) => {
    for (const value of [42, true, {}, ['STOP']]) {
      const error = validationError(() => parseOptOut({ mobilenumber: NUMBER, [field]: value }));
      expect(error.errors).toEqual([{ field, message: 'must be a string' }]);
    }
  });

  it.each([
    ['optoutresponse', 'optoutresponse'],
    ['text', 'text'],
    ['returnedresponse', 'returnedresponse'],
  ])('bounds %s at 1600 characters', (field) => {
    expect(() => parseOptOut({ mobilenumber: NUMBER, [field]: 'x'.repeat(1600) })).not.toThrow();
    const error = validationError(() =>
      parseOptOut({ mobilenumber: NUMBER, [field]: 'x'.repeat(1601) }),
    );
    expect(error.errors).toEqual([{ field, message: 'must be at most 1600 characters' }]);
  });

  it('names every bad field at once', () => {
    const error = validationError(() =>
      parseOptOut({ number: 'nope', body: 7, returnedresponse: 'x'.repeat(2000) }),
    );
    expect(error.errors.map((e) => e.field).sort()).toEqual(['body', 'number', 'returnedresponse']);
  });

  it('strips control characters (not tab, LF, CR) and lone surrogates from the texts', () => {
    const input = parseOptOut({
      mobilenumber: NUMBER,
      text: '\u0000ST\u0007OP\u001b[0m\u007f\u0085',
      returnedresponse: 'a\tb\nc\r\u0000d\ud800e\udc00f😀',
    });
    expect(input.optoutresponse).toBe('STOP[0m');
    expect(input.returnedresponse).toBe('a\tb\nc\rdef😀');
  });

  it('never echoes a value in an error', () => {
    const secretish = 'hostile-value-<script>';
    const error = validationError(() =>
      parseOptOut({
        mobilenumber: secretish,
        text: { secretish },
        returnedresponse: secretish.repeat(200),
      }),
    );
    expect(JSON.stringify(error.errors)).not.toContain('hostile');
    expect(error.message).not.toContain('hostile');
  });
});

describe('hostile keys', () => {
  it.each([
    [
      'JSON with __proto__',
      '{"__proto__":{"mobilenumber":"111111","polluted":true},"from":"+353871234567"}',
    ],
    [
      'JSON with constructor/prototype',
      '{"constructor":{"prototype":{"polluted":true}},"from":"+353871234567"}',
    ],
    [
      'wrapped JSON with __proto__',
      '{"message":{"__proto__":{"polluted":true},"from":"+353871234567"}}',
    ],
  ])('%s neither crashes nor pollutes', (_name, json) => {
    const fields = fieldsFromJson(JSON.parse(json));
    expect(parseOptOut(fields)).toEqual({ mobilenumber: NUMBER, hasReplyText: false });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('form and query keys named __proto__, constructor, toString, hasOwnProperty', () => {
    const text =
      '__proto__=x&constructor=y&toString=z&hasOwnProperty=w&__proto__%5Bpolluted%5D=1&from=%2B353871234567';
    for (const fields of [fieldsFromForm(text), fieldsFromQuery(new URLSearchParams(text))]) {
      expect(fields['__proto__']).toBe('x');
      expect(fields['constructor']).toBe('y');
      expect(parseOptOut(fields)).toEqual({ mobilenumber: NUMBER, hasReplyText: false });
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('does not read inherited properties as fields', () => {
    const inherited = Object.create({ mobilenumber: NUMBER, text: 'STOP' }) as Record<
      string,
      unknown
    >;
    expect(validationError(() => parseOptOut(inherited)).errors[0]?.field).toBe('mobilenumber');
  });

  it('a field named like an Object.prototype member is just an unknown field', () => {
    expect(parseOptOut({ toString: 'STOP', valueOf: 1, from: NUMBER })).toEqual({
      mobilenumber: NUMBER,
      hasReplyText: false,
    });
  });
});

describe('keywords', () => {
  it('defaults to the documented list', () => {
    expect(DEFAULT_OPT_OUT_KEYWORDS).toEqual([
      'STOP',
      'STOPALL',
      'UNSUBSCRIBE',
      'CANCEL',
      'END',
      'QUIT',
      'OPTOUT',
    ]);
    expect(Object.isFrozen(DEFAULT_OPT_OUT_KEYWORDS)).toBe(true);
  });

  it.each([
    [undefined, [...DEFAULT_OPT_OUT_KEYWORDS]],
    ['', [...DEFAULT_OPT_OUT_KEYWORDS]],
    ['  , ;, ', [...DEFAULT_OPT_OUT_KEYWORDS]],
    ['stop', ['STOP']],
    ['stop,Quit', ['STOP', 'QUIT']],
    [' stop  quit\tend\n', ['STOP', 'QUIT', 'END']],
    ['STOP, stop ,Stop;halt', ['STOP', 'HALT']],
    ['opt-out, "Arrêt"', ['OPTOUT', 'ARRÊT']],
  ])('parseKeywords(%j)', (setting, expected) => {
    expect(parseKeywords(setting)).toEqual(expected);
  });

  it('returns a fresh array each time', () => {
    const a = parseKeywords(undefined);
    a.push('X');
    expect(parseKeywords(undefined)).not.toContain('X');
  });

  const keywords = DEFAULT_OPT_OUT_KEYWORDS;
  it.each([
    'STOP',
    'Stop',
    'stop',
    ' STOP. ',
    'STOP!',
    '"Stop"',
    'stop please',
    'Stop\nthanks',
    'STOP, please',
    '...stop',
    '- STOP',
    '🙏 stop',
    'Opt-out',
    'opt out'.replace(' ', '-'),
    'UNSUBSCRIBE me',
    'Cancel.',
    'end',
    'QUIT',
    'StopAll',
    'ＳＴＯＰ',
    '\u200bSTOP',
  ])('%j is an opt-out', (reply) => {
    expect(isOptOutKeyword(reply, keywords)).toBe(true);
  });

  it.each([
    '',
    '   ',
    '...',
    "don't stop",
    'please stop',
    'STOPPED',
    'nonstop',
    'STOP,please',
    'opt out',
    'stahp',
    'S T O P',
    'yes',
    'ENDING',
  ])('%j is not an opt-out', (reply) => {
    expect(isOptOutKeyword(reply, keywords)).toBe(false);
  });

  it('uses the configured keywords only, however they are spelled', () => {
    expect(isOptOutKeyword('Halt now', parseKeywords('halt'))).toBe(true);
    expect(isOptOutKeyword('STOP', parseKeywords('halt'))).toBe(false);
    expect(isOptOutKeyword('halt', ['Halt.'])).toBe(true);
    expect(isOptOutKeyword('STOP', [])).toBe(false);
  });

  it('works on a reply text as parseOptOut returns it', () => {
    const input = parseOptOut(fieldsFromForm('From=%2B353871234567&Body=Stop%21'));
    expect(input.hasReplyText && isOptOutKeyword(input.optoutresponse ?? '', keywords)).toBe(true);
  });
});

describe('properties', () => {
  const aliasKeys = fc.constantFrom(
    'mobilenumber',
    'mobile',
    'msisdn',
    'from',
    'number',
    'optoutresponse',
    'message',
    'text',
    'body',
    'returnedresponse',
    '__proto__',
    'constructor',
    'MOBILE',
  );
  const nearlyValid = fc.dictionary(
    fc.oneof(aliasKeys, fc.string({ maxLength: 10 })),
    fc.oneof(
      fc.jsonValue(),
      fc.stringMatching(/^\+?[\d ().-]{0,40}$/),
      fc.string({ unit: 'binary', maxLength: 2000 }),
    ),
    { maxKeys: 8 },
  );

  it('on arbitrary JSON, parsing throws nothing but ValidationError', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue(),
          nearlyValid,
          nearlyValid.map((m) => ({ message: m })),
        ),
        (value) => {
          // Round-trip through text, as a real body would arrive.
          const body: unknown = JSON.parse(JSON.stringify(value) ?? 'null');
          try {
            const input = parseOptOut(fieldsFromJson(body));
            expect(input.mobilenumber).toMatch(/^\+?\d{6,15}$/);
            expect(input.hasReplyText).toBe(input.optoutresponse !== undefined);
          } catch (error) {
            expect(error).toBeInstanceOf(ValidationError);
            expect((error as ValidationError).errors.length).toBeGreaterThan(0);
          }
          expect(({} as Record<string, unknown>).mobilenumber).toBeUndefined();
        },
      ),
    );
  });

  it('on arbitrary form text, parsing throws nothing but ValidationError', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
        try {
          parseOptOut(fieldsFromForm(text), fieldsFromQuery(new URLSearchParams(text)));
        } catch (error) {
          expect(error).toBeInstanceOf(ValidationError);
        }
      }),
    );
  });

  it('any valid number in any alias and form parses to its normalised value', () => {
    // Digits without + pass as written (no DEFAULT_COUNTRY_CODE here); with +, a number must be
    // valid for its country (shared/schemas/phone-number.ts).
    const mobiles = ['+353871234567', '+447400123456', '+4915123456789', '+919876543210'];
    fc.assert(
      fc.property(
        fc.oneof(fc.stringMatching(/^[1-9]\d{5,14}$/), fc.constantFrom(...mobiles)),
        fc.constantFrom('mobilenumber', 'mobile', 'msisdn', 'from', 'number'),
        fc.constantFrom<'json' | 'wrapped' | 'form' | 'query'>('json', 'wrapped', 'form', 'query'),
        (number, alias, form) => {
          const fields = { [alias]: number };
          const parsed =
            form === 'json'
              ? fieldsFromJson(fields)
              : form === 'wrapped'
                ? fieldsFromJson({ message: fields })
                : form === 'form'
                  ? fieldsFromForm(new URLSearchParams(fields).toString())
                  : fieldsFromQuery(new URLSearchParams(fields));
          expect(parseOptOut(parsed).mobilenumber).toBe(number);
        },
      ),
    );
  });

  it('a keyword as the first word always matches; with a letter glued on, never', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...DEFAULT_OPT_OUT_KEYWORDS),
        fc.constantFrom('', ' ', '  ', '\n'),
        fc.constantFrom('', '.', '!', '?!'),
        fc.string({ maxLength: 40 }),
        fc.boolean(),
        (keyword, lead, punct, rest, lower) => {
          const word = lower ? keyword.toLowerCase() : keyword;
          expect(isOptOutKeyword(`${lead}${word}${punct} ${rest}`, DEFAULT_OPT_OUT_KEYWORDS)).toBe(
            true,
          );
          expect(isOptOutKeyword(`${lead}${word}X ${rest}`, DEFAULT_OPT_OUT_KEYWORDS)).toBe(false);
        },
      ),
    );
  });
});
