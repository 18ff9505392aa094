/** The one queue decoder: plain JSON or base64 of JSON, whatever the producer wrote. */
import { describe, expect, it } from 'vitest';

import { decodeQueueMessage } from '../shared/queues/decode.js';
import { openDelivery } from '../shared/queues/queue-work.js';
import { base64 as b64 } from './helpers/common.js';

const customer = { group: 'G', mobilenumber: '+353871234567' };

describe('decodeQueueMessage', () => {
  it.each([
    ['already parsed by the worker', customer],
    ['plain JSON text', JSON.stringify(customer)],
    ['plain JSON with a BOM', `\uFEFF${JSON.stringify(customer)}`],
    ['base64 JSON', b64(JSON.stringify(customer))],
    [
      'base64 JSON with line breaks (as `base64` wraps)',
      b64(JSON.stringify(customer)).replace(/(.{8})/g, '$1\n'),
    ],
    ['base64 JSON without padding', b64(JSON.stringify(customer)).replace(/=+$/, '')],
    ['base64 of JSON with a BOM', b64(`\uFEFF${JSON.stringify(customer)}`)],
  ])('%s → the object', (_name, message) => {
    expect(decodeQueueMessage(message)).toEqual(customer);
  });

  it.each([
    ['free text', 'hello there'],
    ['base64 of free text', b64('hello there')],
    ['base64 of a JSON number', b64('42')],
    [
      'base64 of bytes that are not UTF-8',
      Buffer.from([0xff, 0xfe, 0x7b, 0x7d]).toString('base64'),
    ],
    ['almost base64', `${b64(JSON.stringify(customer))}!`],
    ['empty', ''],
  ])('%s → left as the text (validation then parks it)', (_name, message) => {
    expect(decodeQueueMessage(message)).toBe(message);
  });

  it('JSON that is not an object is JSON all the same (validation says it is not a customer)', () => {
    expect(decodeQueueMessage('42')).toBe(42);
    expect(decodeQueueMessage('[1,2]')).toEqual([1, 2]);
  });

  it('opens the retry envelope whether plain or base64', () => {
    const envelope = {
      kind: 'sendmode-connector/retry',
      attempts: 2,
      deferrals: 1,
      payload: customer,
    };
    for (const message of [JSON.stringify(envelope), b64(JSON.stringify(envelope))]) {
      expect(openDelivery(message, 1)).toEqual({ payload: customer, attempt: 3, deferrals: 1 });
    }
  });

  it('a queue-sized body that is almost base64 (length not a multiple of 4) stays text', () => {
    const big = 'A'.repeat(64 * 1024 - 1);
    expect(decodeQueueMessage(big)).toBe(big);
  });
});
