/**
 * send-sms, check-credits and health as the Functions host calls them: real HttpRequest and
 * InvocationContext objects, the simulator over HTTP, Azurite for the shared limiter.
 */
import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { checkCredits } from '../functions/check-credits.js';
import { health } from '../functions/health.js';
import { sendSms } from '../functions/send-sms.js';
import { type KeyVaultFake, startKeyVaultFake, useFakeManagedIdentity } from './fakes/key-vault.js';
import { type AppEnv, startAppEnv, TEST_API_KEY, testContext } from './helpers/app-env.js';

let env: AppEnv;

beforeAll(async () => {
  env = await startAppEnv({ SENDMODE_HEADERS_TIMEOUT_MS: '400' });
});
afterAll(async () => env?.stop());
beforeEach(async () => {
  env.resetSimulator();
  await env.configure({ SENDMODE_API_KEY: TEST_API_KEY, KEY_VAULT_URI: undefined });
});

function post(
  body: string,
  headers: Record<string, string> = { 'content-type': 'application/json' },
) {
  return new HttpRequest({
    method: 'POST',
    url: 'http://localhost/api/sms',
    headers,
    body: { string: body },
  });
}

async function send(body: unknown, context = testContext('send-sms')) {
  const response = await sendSms(post(JSON.stringify(body)), context);
  return { response, json: parse(response), context };
}

function parse(response: HttpResponseInit): Record<string, unknown> {
  return JSON.parse(String(response.body)) as Record<string, unknown>;
}

function header(response: HttpResponseInit, name: string): string | undefined {
  return (response.headers as Record<string, string> | undefined)?.[name];
}

const valid = { messagetext: 'Your order has shipped', recipients: ['+353 87 123 4567'] };

describe('POST /api/sms', () => {
  it('sends and returns Sendmode’s answer', async () => {
    const { response, json } = await send({ ...valid, senderid: 'Acme', customerid: 'o-1' });
    expect(response.status).toBe(200);
    expect(json).toMatchObject({ status: 'OK', statusCode: 0 });
    expect(json.acceptedDateTime).toEqual(expect.any(String));
    expect(json.message).toMatchObject({ recipients: ['+353871234567'], senderid: 'Acme' });
    expect(env.simulator.callsFor('send')).toHaveLength(1);
  });

  it('accepts the connector’s wrapped form { message: {...} }', async () => {
    const { response } = await send({ message: valid });
    expect(response.status).toBe(200);
    expect(env.simulator.callsFor('send')[0]?.payload).toMatchObject({
      messagetext: valid.messagetext,
    });
  });

  it('normalises and de-duplicates recipients before sending, and ignores unknown fields', async () => {
    const { response } = await send({
      ...valid,
      recipients: ['087-123.4567', '(087) 1234567', '0861234567'],
      colour: 'blue',
    });
    expect(response.status).toBe(200);
    const payload = env.simulator.callsFor('send')[0]?.payload as Record<string, unknown>;
    expect(payload.recipients).toEqual(['0871234567', '0861234567']);
    expect(payload).not.toHaveProperty('colour');
  });

  it('logs one structured line without the key, the text or full numbers', async () => {
    const { context } = await send(valid);
    const lines = context.logs.filter((line) => line.includes('"operation"'));
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!.slice(lines[0]!.indexOf('{'))) as Record<string, unknown>;
    expect(entry).toMatchObject({
      operation: 'send-sms',
      outcome: 'success',
      status: 200,
      upstreamStatusCode: 0,
      recipientCount: 1,
      recipients: ['*********567'],
    });
    expect(entry.durationMs).toEqual(expect.any(Number));
    const all = context.logs.join('\n');
    expect(all).not.toContain(TEST_API_KEY);
    expect(all).not.toContain(valid.messagetext);
    expect(all).not.toMatch(/871234567/);
  });

  it.each([
    ['text/plain', 415],
    ['application/x-www-form-urlencoded', 415],
  ])('content type %s → %i', async (type, status) => {
    const response = await sendSms(
      post(JSON.stringify(valid), { 'content-type': type }),
      testContext(),
    );
    expect(response.status).toBe(status);
    expect(header(response, 'content-type')).toBe('application/problem+json');
    expect(env.simulator.calls()).toHaveLength(0);
  });

  it('no content type → 415', async () => {
    const response = await sendSms(post(JSON.stringify(valid), {}), testContext());
    expect(response.status).toBe(415);
  });

  it('a body over 64 KiB → 413, even when the content-length is not declared', async () => {
    const big = JSON.stringify({ ...valid, customerid: 'x'.repeat(70_000) });
    const response = await sendSms(post(big), testContext());
    expect(response.status).toBe(413);
    const declared = await sendSms(
      post('{}', { 'content-type': 'application/json', 'content-length': '70000' }),
      testContext(),
    );
    expect(declared.status).toBe(413);
    expect(env.simulator.calls()).toHaveLength(0);
  });

  it('malformed JSON → 400 naming the body, without echoing it', async () => {
    const response = await sendSms(
      post('{"messagetext": "hi", "recipients": ["0871234567"'),
      testContext(),
    );
    expect(response.status).toBe(400);
    const json = parse(response);
    expect(json.errors).toEqual([{ field: 'body', message: 'is not valid JSON' }]);
    expect(String(response.body)).not.toContain('0871234567');
  });

  it.each([
    ['empty object', {}, ['messagetext', 'recipients']],
    ['blank text', { ...valid, messagetext: '   ' }, ['messagetext']],
    ['1531 GSM-7 characters', { ...valid, messagetext: 'a'.repeat(1531) }, ['messagetext']],
    ['671 UCS-2 characters', { ...valid, messagetext: 'ж'.repeat(671) }, ['messagetext']],
    ['no recipients', { ...valid, recipients: [] }, ['recipients']],
    ['recipients not an array', { ...valid, recipients: '0871234567' }, ['recipients']],
    [
      'bad recipients by index',
      { ...valid, recipients: ['0871234567', '123', null, '0871234567x'] },
      ['recipients/1', 'recipients/2', 'recipients/3'],
    ],
    [
      '1001 recipients',
      {
        ...valid,
        recipients: Array.from({ length: 1001 }, (_, i) => `08712${String(i).padStart(5, '0')}`),
      },
      ['recipients'],
    ],
    ['12-letter sender id', { ...valid, senderid: 'TwelveChars1' }, ['senderid']],
    ['sender id with a space', { ...valid, senderid: 'Acme Ltd' }, ['senderid']],
    ['17-digit sender id', { ...valid, senderid: '12345678901234567' }, ['senderid']],
    ['101-character customerid', { ...valid, customerid: 'x'.repeat(101) }, ['customerid']],
    ['numeric customerid', { ...valid, customerid: 42 }, ['customerid']],
    ['past scheduledate', { ...valid, scheduledate: '2020-01-01T00:00:00Z' }, ['scheduledate']],
    ['non-ISO scheduledate', { ...valid, scheduledate: '31/12/2030 10:00' }, ['scheduledate']],
    [
      'scheduledate beyond the horizon',
      { ...valid, scheduledate: '2099-01-01T00:00:00Z' },
      ['scheduledate'],
    ],
    ['an array', [valid], ['body']],
    ['a string', 'just a string', ['body']],
    ['null', null, ['body']],
  ])('%s → 400 naming each bad field, nothing sent', async (_name, body, fields) => {
    const { response, json } = await send(body);
    expect(response.status).toBe(400);
    expect((json.errors as Array<{ field: string }>).map((e) => e.field)).toEqual(fields);
    expect(env.simulator.calls()).toHaveLength(0);
  });

  it('accepts the boundaries: 1530 GSM-7 characters, 11-letter and 16-digit sender ids, 1000 recipients', async () => {
    const recipients = Array.from({ length: 1000 }, (_, i) => `08712${String(i).padStart(5, '0')}`);
    env.simulator.setBalance(1_000_000);
    for (const body of [
      { ...valid, messagetext: 'a'.repeat(1530), senderid: 'ElevenChars' },
      { ...valid, senderid: '1234567890123456', recipients },
      { ...valid, scheduledate: new Date(Date.now() + 86_400_000).toISOString() },
    ]) {
      const { response } = await send(body);
      expect(response.status).toBe(200);
    }
  });

  it('Sendmode rejecting the request → 502 with its status, statusCode and error', async () => {
    env.simulator.setApiKeys(['some-other-key']);
    const { response, json } = await send(valid);
    expect(response.status).toBe(502);
    expect(json.upstream).toMatchObject({ status: 'INVALID_ACCESS_KEY', statusCode: 14 });
    expect(String(response.body)).not.toContain(TEST_API_KEY);
  });

  it.each([
    ['system-error', 502],
    ['http-error', 502],
    ['malformed', 502],
    ['reset', 502],
  ] as const)('upstream fault %s → %i', async (kind, status) => {
    env.simulator.injectFault({ kind });
    const { response } = await send(valid);
    expect(response.status).toBe(status);
  });

  it('upstream 429 → 429 with its Retry-After', async () => {
    env.simulator.injectFault({ kind: 'rate-limit', retryAfterSeconds: 9 });
    const { response } = await send(valid);
    expect(response.status).toBe(429);
    expect(header(response, 'retry-after')).toBe('9');
  });

  it('Sendmode too slow → 504', async () => {
    env.simulator.injectFault({ kind: 'latency', latencyMs: 1_500, times: 1 });
    const { response, json } = await send(valid);
    expect(response.status).toBe(504);
    expect(json.type).toMatch(/upstream-timeout/);
  });

  it('no API key configured → 503 naming the settings, and nothing sent', async () => {
    await env.configure({ SENDMODE_API_KEY: undefined });
    const { response, json } = await send(valid);
    expect(response.status).toBe(503);
    expect(header(response, 'retry-after')).toEqual(expect.stringMatching(/^\d+$/));
    expect(String(json.detail)).toMatch(/SENDMODE_API_KEY/);
    expect(env.simulator.calls()).toHaveLength(0);
  });
});

describe('API key from Key Vault, end to end', () => {
  let vault: KeyVaultFake;
  let restore: () => void;
  beforeAll(async () => {
    vault = await startKeyVaultFake({ 'sendmode-api-key': TEST_API_KEY });
    restore = useFakeManagedIdentity(vault);
  });
  afterAll(async () => {
    restore();
    await vault.close();
  });

  it('a key rotated in the vault takes effect without a restart: refetch once, retry once', async () => {
    vault.setSecret('sendmode-api-key', TEST_API_KEY);
    await env.configure({ KEY_VAULT_URI: vault.url, SENDMODE_API_KEY: undefined });
    expect((await send(valid)).response.status).toBe(200);

    vault.setSecret('sendmode-api-key', 'rotated-key');
    env.simulator.setApiKeys(['rotated-key']);
    env.simulator.reset();
    const { response, context } = await send(valid);
    expect(response.status).toBe(200);
    const calls = env.simulator.callsFor('send');
    expect(calls.map((c) => c.authorized)).toEqual([false, true]);
    expect(context.logs.join('\n')).not.toContain('rotated-key');
  });

  it('a key Sendmode still refuses after the refetch is not retried again → 502', async () => {
    vault.setSecret('sendmode-api-key', 'still-wrong');
    await env.configure({ KEY_VAULT_URI: vault.url, SENDMODE_API_KEY: undefined });
    const { response } = await send(valid);
    expect(response.status).toBe(502);
    expect(env.simulator.callsFor('send').length).toBeLessThanOrEqual(2);
  });

  it('vault unreachable with no key cached → 503, nothing sent', async () => {
    await env.configure({ KEY_VAULT_URI: vault.url, SENDMODE_API_KEY: undefined });
    vault.setMode('down');
    try {
      const { response, json } = await send(valid);
      expect(response.status).toBe(503);
      expect(json.type).toMatch(/dependency-unavailable/);
      expect(env.simulator.calls()).toHaveLength(0);
    } finally {
      vault.setMode('ok');
    }
  });
});

describe('GET /api/credits', () => {
  it('returns status, statusCode and balance', async () => {
    env.simulator.setBalance(123.5);
    const response = await checkCredits(
      new HttpRequest({ method: 'GET', url: 'http://localhost/api/credits' }),
      testContext('check-credits'),
    );
    expect(response.status).toBe(200);
    expect(parse(response)).toEqual({ status: 'OK', statusCode: 0, balance: 123.5 });
  });

  it('upstream down → 502 with Retry-After', async () => {
    env.simulator.injectFault({ kind: 'http-error', httpStatus: 503 });
    const response = await checkCredits(
      new HttpRequest({ method: 'GET', url: 'http://localhost/api/credits' }),
      testContext('check-credits'),
    );
    expect(response.status).toBe(502);
    expect(header(response, 'retry-after')).toBeDefined();
  });
});

describe('GET /api/health', () => {
  it('answers ok without calling Sendmode or revealing secrets', async () => {
    const response = await health(
      new HttpRequest({ method: 'GET', url: 'http://localhost/api/health' }),
      testContext('health'),
    );
    expect(response.status).toBe(200);
    expect(parse(response)).toMatchObject({ status: 'ok', apiKeySource: 'setting' });
    expect(String(response.body)).not.toContain(TEST_API_KEY);
    expect(env.simulator.calls()).toHaveLength(0);
  });

  it('says whether webhooks must be signed and where the secret comes from, never the secret', async () => {
    const webhooks = async (settings: Record<string, string | undefined>) => {
      await env.configure(settings);
      const response = await health(
        new HttpRequest({ method: 'GET', url: 'http://localhost/api/health' }),
        testContext('health'),
      );
      expect(response.status).toBe(200);
      return { body: String(response.body), webhooks: parse(response).webhooks };
    };
    const signing = {
      KEY_VAULT_URI: undefined,
      WEBHOOK_SIGNING_SECRET_NAME: undefined,
      WEBHOOK_SIGNING_SECRET: undefined,
    };
    const secret = 'whsec_aGVhbHRoLW11c3Qtbm90LXNob3ctdGhpcw==';
    try {
      // Unsigned: the function key alone.
      expect((await webhooks(signing)).webhooks).toEqual({
        signatureRequired: false,
        secretSource: 'none',
      });
      // Signed with a local secret.
      const local = await webhooks({ ...signing, WEBHOOK_SIGNING_SECRET: secret });
      expect(local.webhooks).toEqual({ signatureRequired: true, secretSource: 'setting' });
      expect(local.body).not.toContain(secret);
      expect(local.body).not.toContain(secret.slice('whsec_'.length));
      // Signed with the vault's secret, as deployed (the vault is not called).
      const vault = await webhooks({
        ...signing,
        KEY_VAULT_URI: 'https://kv-example.vault.azure.net/',
        WEBHOOK_SIGNING_SECRET_NAME: 'webhook-signing-secret',
      });
      expect(vault.webhooks).toEqual({ signatureRequired: true, secretSource: 'key-vault' });
      expect(vault.body).not.toContain('webhook-signing-secret');
      // A secret name without a vault: required, but nothing to verify with (every one refused).
      const nowhere = await webhooks({ ...signing, WEBHOOK_SIGNING_SECRET_NAME: 'hooks' });
      expect(nowhere.webhooks).toEqual({ signatureRequired: true, secretSource: 'none' });
    } finally {
      await env.configure(signing);
    }
  });

  it('names bad settings with 503', async () => {
    await env.configure({ RATE_LIMIT_MAX_CALLS: 'many' });
    try {
      const response = await health(
        new HttpRequest({ method: 'GET', url: 'http://localhost/api/health' }),
        testContext('health'),
      );
      expect(response.status).toBe(503);
      expect(String(response.body)).toMatch(/RATE_LIMIT_MAX_CALLS/);
    } finally {
      await env.configure({ RATE_LIMIT_MAX_CALLS: undefined });
    }
  });
});
