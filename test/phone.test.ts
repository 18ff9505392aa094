import { describe, expect, it } from 'vitest';

import { maskPhoneNumber, normalisePhoneNumber } from '../shared/phone.js';
import { scrubPhoneNumbers } from '../shared/redact.js';

describe('normalisePhoneNumber', () => {
  it.each([
    ['0871234567', '0871234567'],
    ['+353 87 123 4567', '+353871234567'],
    ['(087) 123-45.67', '0871234567'],
    ['123456', '123456'],
    ['+123456789012345', '+123456789012345'],
  ])('accepts %j as %j', (raw, expected) => {
    expect(normalisePhoneNumber(raw)).toBe(expected);
  });

  it.each([
    '',
    '12345',
    '1234567890123456',
    '++353871234567',
    '35387a234567',
    '353 87 / 1234',
    '0871234567+',
  ])('rejects %j', (raw) => {
    expect(normalisePhoneNumber(raw)).toBeUndefined();
  });
});

describe('masking', () => {
  it('keeps only the last three digits', () => {
    expect(maskPhoneNumber('+353871234567')).toBe('*********567');
    expect(maskPhoneNumber('12')).toBe('***');
  });

  it('scrubs numbers out of free text', () => {
    const text = 'Invalid mobile number +353 87 123 4567 at line 12';
    const scrubbed = scrubPhoneNumbers(text);
    expect(scrubbed).not.toContain('123 4567');
    expect(scrubbed).toContain('567');
    expect(scrubbed).toContain('line 12');
  });
});
