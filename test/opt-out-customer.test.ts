/**
 * The connector's Optout Customer (`POST /api/optouts`): a flow's opt-out, authorised by the
 * function key alone, so it works where the webhook (`/api/optout`) requires signatures, which a
 * flow cannot make. Its body is taken as the webhook takes one; the query string never.
 */
import { HttpRequest } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { optOutFromFlow } from '../functions/opt-out-customer.js';
import { optOutWebhook } from '../functions/opt-out-webhook.js';
import { getServices } from '../shared/services.js';
import { type AppEnv, startAppEnv, testContext } from './helpers/app-env.js';

const run = Math.random().toString(36).slice(2, 8);
let env: AppEnv;

beforeAll(async () => {
  env = await startAppEnv({
    // Signed webhooks, as infra/ deploys by default.
    WEBHOOK_SIGNING_SECRET: 'whsec_dGVzdC1zaWduaW5nLXNlY3JldC0xMjM0NTY3ODkw',
    SUPPRESSION_TABLE_NAME: `flowoptouts${run}`,
    OPT_OUT_AUDIT_TABLE_NAME: `flowaudit${run}`,
  });
});
afterAll(async () => env?.stop());

function post(
  handler: typeof optOutFromFlow,
  path: string,
  body: string,
  type = 'application/json',
) {
  return handler(
    new HttpRequest({
      method: 'POST',
      url: `https://sms.example.net/api/${path}`,
      headers: { 'content-type': type },
      body: { string: body },
    }),
    testContext('opt-out-customer'),
  );
}

describe('POST /api/optouts (Optout Customer)', () => {
  it('records a flow’s opt-out where the webhook refuses it unsigned', async () => {
    const body = JSON.stringify({ mobilenumber: '+353870000801' });
    expect((await post(optOutWebhook, 'optout', body)).status).toBe(401);
    const response = await post(optOutFromFlow, 'optouts', body);
    expect(response.status).toBe(200);
    expect(JSON.parse(String(response.body))).toEqual({ status: 'opted-out' });
    const { suppression } = await getServices();
    const entry = await suppression.entry('+353870000801');
    expect(entry?.suppressed).toBe(true);
    expect(entry?.lastChange?.source).toBe('api');
    expect(env.simulator.optOuts().map((o) => o.mobilenumber)).toContain('+353870000801');
  });

  it('takes the wrapped form, and a reply text only when it is a keyword', async () => {
    const wrapped = JSON.stringify({ message: { mobilenumber: '+353870000802' } });
    expect((await post(optOutFromFlow, 'optouts', wrapped)).status).toBe(200);
    const chatter = JSON.stringify({ mobilenumber: '+353870000803', optoutresponse: 'thanks!' });
    expect(JSON.parse(String((await post(optOutFromFlow, 'optouts', chatter)).body))).toEqual({
      status: 'ignored',
    });
  });

  it('never reads the query string, and refuses bad, oversized and foreign bodies', async () => {
    const fromQuery = await optOutFromFlow(
      new HttpRequest({
        method: 'POST',
        url: 'https://sms.example.net/api/optouts?mobilenumber=%2B353870000804',
      }),
      testContext('opt-out-customer'),
    );
    expect(fromQuery.status).toBe(400);
    const cases: [string, string, number][] = [
      ['{"mobilenumber":"not a number"}', 'application/json', 400],
      ['{"mobilenumber":', 'application/json', 400],
      [
        JSON.stringify({ mobilenumber: '+353870000805', x: 'y'.repeat(70_000) }),
        'application/json',
        413,
      ],
      ['<optout/>', 'text/xml', 415],
    ];
    for (const [body, type, status] of cases) {
      const response = await post(optOutFromFlow, 'optouts', body, type);
      expect(response.status, body.slice(0, 40)).toBe(status);
      expect(String(response.body)).not.toContain('353870000805');
    }
  });
});
