import { describe, expect, it } from 'vitest';

import { isGsm7, MAX_GSM7_UNITS, MAX_UCS2_UNITS, measureSms } from '../shared/sendmode/sms-text.js';

describe('measureSms', () => {
  it.each([
    ['', 'GSM-7', 0, 0],
    ['Hello', 'GSM-7', 5, 1],
    ['a'.repeat(160), 'GSM-7', 160, 1],
    ['a'.repeat(161), 'GSM-7', 161, 2],
    ['a'.repeat(306), 'GSM-7', 306, 2],
    ['a'.repeat(307), 'GSM-7', 307, 3],
    ['€'.repeat(80), 'GSM-7', 160, 1], // extension characters take two septets
    ['€'.repeat(81), 'GSM-7', 162, 2],
    ['ü'.repeat(160), 'GSM-7', 160, 1], // in the GSM basic alphabet
    ['ç'.repeat(1), 'UCS-2', 1, 1], // lower-case ç is not (only Ç is)
    ['é'.repeat(70) + 'ж', 'UCS-2', 71, 2],
    ['ж'.repeat(70), 'UCS-2', 70, 1],
    ['ж'.repeat(134), 'UCS-2', 134, 2],
    ['ж'.repeat(135), 'UCS-2', 135, 3],
    ['😀'.repeat(35), 'UCS-2', 70, 1], // surrogate pairs count two units
  ] as const)('%# measures %j', (text, encoding, units, parts) => {
    expect(measureSms(text)).toEqual({ encoding, units, parts });
  });

  it('never splits an escape pair across parts', () => {
    // 152 plain septets then a euro sign: the pair cannot fit in part 1's last septet.
    const text = 'a'.repeat(152) + '€' + 'a'.repeat(10);
    expect(measureSms(text)).toEqual({ encoding: 'GSM-7', units: 164, parts: 2 });
    const tight = 'a'.repeat(152) + '€' + 'a'.repeat(152);
    expect(measureSms(tight).parts).toBe(3);
  });

  it('never splits a surrogate pair across parts', () => {
    const text = 'ж'.repeat(66) + '😀' + 'ж'.repeat(66); // 134 units: 2 parts if split naively
    expect(measureSms(text)).toEqual({ encoding: 'UCS-2', units: 134, parts: 3 });
  });

  it('puts the 10-part ceiling at 1530 GSM-7 and 670 UCS-2 units', () => {
    expect(MAX_GSM7_UNITS).toBe(1530);
    expect(MAX_UCS2_UNITS).toBe(670);
    expect(measureSms('a'.repeat(1530)).parts).toBe(10);
    expect(measureSms('a'.repeat(1531)).parts).toBe(11);
    expect(measureSms('ж'.repeat(670)).parts).toBe(10);
    expect(measureSms('ж'.repeat(671)).parts).toBe(11);
  });

  it('recognises the GSM alphabet', () => {
    expect(isGsm7('Hello @ £5 {ok} ~ \n')).toBe(true);
    expect(isGsm7('Grüße')).toBe(true);
    expect(isGsm7('naïve')).toBe(false);
  });
});
