/** Property: no JSON body of any shape makes send-sms answer 5xx, and an invalid one never reaches Sendmode. */
import { HttpRequest } from '@azure/functions';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { sendSms } from '../functions/send-sms.js';
import { type AppEnv, startAppEnv, testContext } from './helpers/app-env.js';

let env: AppEnv;
beforeAll(async () => {
  // A high limit: this test is about validation, not the limiter.
  env = await startAppEnv({ RATE_LIMIT_MAX_CALLS: '1000' });
  env.simulator.setBalance(1e9);
});
afterAll(async () => env?.stop());

/** Values near the schema's edges: right field names with wrong or borderline values. */
const nearlyValid = fc.record(
  {
    messagetext: fc.oneof(
      fc.string(),
      fc.string({ unit: 'grapheme', maxLength: 800 }),
      fc.jsonValue(),
    ),
    recipients: fc.oneof(
      fc.array(fc.oneof(fc.stringMatching(/^\+?[\d ().-]{0,20}$/), fc.jsonValue()), {
        maxLength: 5,
      }),
      fc.jsonValue(),
    ),
    senderid: fc.oneof(fc.string({ maxLength: 20 }), fc.jsonValue()),
    customerid: fc.oneof(fc.string({ maxLength: 120 }), fc.jsonValue()),
    scheduledate: fc.oneof(
      fc.date().map((d) => (Number.isNaN(d.getTime()) ? 'x' : d.toISOString())),
      fc.string(),
    ),
  },
  { requiredKeys: [] },
);

const anyBody = fc.oneof(
  fc.jsonValue(),
  nearlyValid,
  nearlyValid.map((message) => ({ message })),
);

describe('send-sms on arbitrary JSON', () => {
  it('never answers 5xx; every 400 names fields and sends nothing', async () => {
    await fc.assert(
      fc.asyncProperty(anyBody, async (body) => {
        const before = env.simulator.calls().length;
        const response = await sendSms(
          new HttpRequest({
            method: 'POST',
            url: 'http://localhost/api/sms',
            headers: { 'content-type': 'application/json' },
            body: { string: JSON.stringify(body) },
          }),
          testContext(),
        );
        const status = response.status ?? 200;
        expect(status).toBeLessThan(500);
        if (status === 400) {
          const problem = JSON.parse(String(response.body)) as { errors: unknown[] };
          expect(problem.errors.length).toBeGreaterThan(0);
          expect(env.simulator.calls().length).toBe(before);
        } else {
          // Whatever passed our validation, Sendmode accepted too.
          expect(status).toBe(200);
        }
      }),
      { numRuns: 400 },
    );
  });
});
