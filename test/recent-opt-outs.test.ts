/**
 * Recent opt-outs for the status page: noted by the real opt-out path (the webhook function,
 * the suppression list and its audit trail on Azurite), read back newest first, masked, bounded,
 * without repeats; and the `recentOptOuts` query parameter's bad values.
 */
import { TableClient } from '@azure/data-tables';
import { HttpRequest } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { optOutWebhook } from '../functions/opt-out-webhook.js';
import { status } from '../functions/status.js';
import { ValidationError } from '../shared/errors.js';
import { AuditTrail } from '../shared/opt-outs/audit-trail.js';
import {
  listRecentOptOuts,
  MAX_RECENT_OPT_OUTS,
  parseRecentOptOutsParam,
  RECENT_PARTITION,
} from '../shared/opt-outs/recent-opt-outs.js';
import { getServices } from '../shared/services.js';
import { type AppEnv, startAppEnv, testContext } from './helpers/app-env.js';

const AUDIT_TABLE = `recentaudit${Date.now()}`;
let env: AppEnv;
let table: TableClient;

beforeAll(async () => {
  env = await startAppEnv({ OPT_OUT_AUDIT_TABLE_NAME: AUDIT_TABLE });
  table = TableClient.fromConnectionString(env.azurite.connectionString, AUDIT_TABLE, {
    allowInsecureConnection: true,
  });
});
afterAll(async () => env?.stop());

async function webhook(body: Record<string, unknown>): Promise<void> {
  const response = await optOutWebhook(
    new HttpRequest({
      method: 'POST',
      url: 'http://localhost/api/optout',
      headers: { 'content-type': 'application/json' },
      body: { string: JSON.stringify(body) },
    }),
    testContext('opt-out-webhook'),
  );
  expect(response.status).toBe(200);
}

describe('recent opt-outs', () => {
  it('lists applied opt-outs newest first, masked, bounded, once each', async () => {
    await webhook({ mobilenumber: '+353871111111', optoutresponse: 'STOP' });
    await new Promise((done) => setTimeout(done, 5));
    await webhook({ mobilenumber: '+353872222222', optoutresponse: 'STOP' });
    await new Promise((done) => setTimeout(done, 5));
    await webhook({ mobilenumber: '+353873333333' });
    // Not opt-outs: an ignored reply and an opt-in.
    await webhook({ mobilenumber: '+353874444444', optoutresponse: 'hello' });
    await webhook({ mobilenumber: '+353871111111', optoutresponse: 'START' });

    const trail = new AuditTrail(table);
    const recent = await trail.recentOptOuts(10);
    expect(recent.map((r) => r.number)).toEqual(['*********333', '*********222', '*********111']);
    for (const item of recent) {
      expect(Date.parse(item.at)).toBeGreaterThan(Date.now() - 60_000);
      expect(item.source).toBe('api');
    }
    expect(await trail.recentOptOuts(2)).toHaveLength(2);
    expect((await trail.recentOptOuts(2))[0]?.number).toBe('*********333');
    // What /api/status reads: the app's own suppression list.
    const { suppression } = await getServices();
    expect(await suppression.recentOptOuts(3)).toEqual(recent);
    expect(await suppression.recentOptOuts(0)).toEqual([]);

    // No full number is stored in the recent rows.
    const rows = table.listEntities({
      queryOptions: { filter: `PartitionKey eq '${RECENT_PARTITION}'` },
    });
    for await (const row of rows) expect(JSON.stringify(row)).not.toMatch(/\d{4,}3333/);
  });

  it('answers an empty list from an empty or missing table', async () => {
    const missing = TableClient.fromConnectionString(
      env.azurite.connectionString,
      `nosuchtable${Date.now()}`,
      { allowInsecureConnection: true },
    );
    expect(await listRecentOptOuts(missing, 5)).toEqual([]);
  });
});

describe('GET /api/status?recentOptOuts=N', () => {
  const get = async (query: string) => {
    const response = await status(
      new HttpRequest({ method: 'GET', url: `http://localhost/api/status${query}` }),
      testContext('status'),
    );
    return {
      status: response.status,
      json: JSON.parse(String(response.body)) as Record<string, unknown>,
    };
  };

  it('adds the latest N opt-outs, masked; without the parameter, none', async () => {
    await webhook({ mobilenumber: '+353875555555', optoutresponse: 'STOP' });
    const asked = await get('?recentOptOuts=1');
    expect(asked.status).toBe(200);
    expect(asked.json.recentOptOuts).toEqual([
      { number: '*********555', at: expect.any(String), source: 'api' },
    ]);
    expect(JSON.stringify(asked.json)).not.toContain('875555555');
    const plain = await get('');
    expect(plain.status).toBe(200);
    expect(plain.json).not.toHaveProperty('recentOptOuts');
    expect(plain.json).toHaveProperty('limit');
  });

  it.each(['?recentOptOuts=abc', '?recentOptOuts=51', '?recentOptOuts=', '?recentOptOuts=-3'])(
    '%s is a 400 problem naming recentOptOuts',
    async (query) => {
      const answer = await get(query);
      expect(answer.status).toBe(400);
      expect(answer.json.errors).toEqual([
        { field: 'recentOptOuts', message: 'must be a whole number from 0 to 50' },
      ]);
    },
  );
});

describe('the recentOptOuts parameter', () => {
  it('takes 0 to 50; absent is 0', () => {
    expect(parseRecentOptOutsParam(null)).toBe(0);
    expect(parseRecentOptOutsParam('0')).toBe(0);
    expect(parseRecentOptOutsParam('10')).toBe(10);
    expect(parseRecentOptOutsParam(String(MAX_RECENT_OPT_OUTS))).toBe(MAX_RECENT_OPT_OUTS);
  });

  it.each(['', '51', '-1', '1e2', '2.5', 'abc', ' 5', '0x10', '9'.repeat(400), '10;drop'])(
    'rejects %j with a 400 naming it',
    (raw) => {
      let error: unknown;
      try {
        parseRecentOptOutsParam(raw);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).errors).toEqual([
        { field: 'recentOptOuts', message: 'must be a whole number from 0 to 50' },
      ]);
    },
  );
});
