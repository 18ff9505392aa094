/**
 * The Sendmode 3.0 client against the simulator's 3.0 side over real HTTP: the documented wire
 * format (single and bulk), the operations 3.0 does not offer, and how its answers map to the
 * app's typed errors. Faults both generations share run in sendmode-versions.test.ts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { NotOfferedError, UpstreamRejectedError, ValidationError } from '../shared/errors.js';
import { SendmodeClientV3 } from '../shared/sendmode/client-v3.js';
import { startSimulator } from '../tools/sendmode-simulator/simulator.js';
import type { Simulator } from '../tools/sendmode-simulator/types.js';

const KEY = 'live_client-v3-test-key';
let simulator: Simulator;
let client: SendmodeClientV3;

beforeAll(async () => {
  simulator = await startSimulator({ apiKeys: [KEY], balance: 50 });
  client = new SendmodeClientV3({
    baseUrl: simulator.urlV3,
    connectTimeoutMs: 1_000,
    headersTimeoutMs: 500,
    bodyTimeoutMs: 500,
    maxConnections: 4,
  });
});
afterAll(async () => {
  await client.close();
  await simulator.close();
});
afterEach(() => simulator.reset());

async function failure(promise: Promise<unknown>) {
  return promise.then(
    () => expect.unreachable('expected a failure'),
    (error: unknown) => error,
  );
}

describe('wire format', () => {
  it('one recipient: POST /send with sender_id, message, mobile_number, customer_id as JSON and the raw key', async () => {
    const result = await client.send(KEY, {
      messagetext: 'Hello',
      recipients: ['+353871234567'],
      senderid: 'Acme',
      customerid: 'order-1',
    });
    expect(result).toMatchObject({
      status: 'OK',
      statusCode: 0,
      message: {
        senderid: 'Acme',
        messagetext: 'Hello',
        customerid: 'order-1',
        recipients: ['+353871234567'],
      },
    });
    expect(Date.parse(result.acceptedDateTime ?? '')).not.toBeNaN();
    const calls = simulator.calls();
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      apiVersion: 'v3',
      operation: 'send',
      method: 'POST',
      path: '/3.0/send',
      authorized: true,
      httpStatus: 200,
      isSuccessful: true,
    });
    expect(calls[0]?.contentType).toMatch(/^application\/json/);
    expect(calls[0]?.payload).toEqual({
      sender_id: 'Acme',
      message: 'Hello',
      mobile_number: '+353871234567',
      customer_id: 'order-1',
    });
    expect(simulator.balance()).toBe(49);
  });

  it('several recipients: one POST /send/bulk with mobile_numbers', async () => {
    const recipients = ['+353871234567', '+353861234567', '+447400123456'];
    const result = await client.send(KEY, { messagetext: 'Hi all', recipients, senderid: 'Acme' });
    expect(result.message?.recipients).toEqual(recipients);
    const calls = simulator.calls();
    expect(calls).toHaveLength(1);
    expect(calls[0]?.path).toBe('/3.0/send/bulk');
    expect(calls[0]?.payload).toEqual({
      sender_id: 'Acme',
      message: 'Hi all',
      mobile_numbers: recipients,
    });
    expect(simulator.balance()).toBe(47);
  });

  it.each([
    ['credits', () => client.credits()],
    ['import', () => client.importCustomer()],
    ['optout', () => client.optOut()],
  ])('%s is not offered: NotOfferedError, permanent, and no call', async (_name, operation) => {
    const error = await failure(operation());
    expect(error).toBeInstanceOf(NotOfferedError);
    expect((error as NotOfferedError).permanent).toBe(true);
    expect((error as Error).message).toMatch(/SENDMODE_API_VERSION=v3/);
    expect(simulator.calls()).toHaveLength(0);
  });

  it('never sends without a sender id, in national form or scheduled (backstop to prepareSend)', async () => {
    await expect(
      client.send(KEY, { messagetext: 'x', recipients: ['+353871234567'] }),
    ).rejects.toBeInstanceOf(ValidationError);
    await expect(
      client.send(KEY, { messagetext: 'x', recipients: ['0871234567'], senderid: 'Acme' }),
    ).rejects.toBeInstanceOf(ValidationError);
    await expect(
      client.send(KEY, {
        messagetext: 'x',
        recipients: ['+353871234567'],
        senderid: 'Acme',
        scheduledate: '2030-01-31T09:00:00Z',
      }),
    ).rejects.toBeInstanceOf(NotOfferedError);
    expect(simulator.calls()).toHaveLength(0);
  });
});

describe('answers to typed errors', () => {
  const sms = { messagetext: 'x', recipients: ['+353871234567'], senderid: 'Acme' };

  it('a wrong key (HTTP 401) is an auth failure, so a rotated key is read again', async () => {
    const error = (await failure(client.send('live_wrong', sms))) as UpstreamRejectedError;
    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect(error.upstream).toMatchObject({ status: 'UNAUTHORISED', statusCode: -1 });
    expect(error.upstream.error).toMatch(/key/);
    expect(error.isAuthFailure).toBe(true);
    expect(error.permanent).toBe(true);
    expect(simulator.calls()[0]).toMatchObject({ authorized: false, httpStatus: 401 });
  });

  it('the simulator refuses a sender id over 15 characters: a permanent rejection with error_message', async () => {
    const error = (await failure(
      client.send(KEY, { ...sms, senderid: 'ABCDEFGHIJKLMNOP' }),
    )) as UpstreamRejectedError;
    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect(error.upstream).toMatchObject({ status: 'HTTP_400', statusCode: -1 });
    expect(error.upstream.error).toMatch(/sender_id/);
    expect(error.permanent).toBe(true);
  });

  it('HTTP 200 with is_successful false is a permanent rejection; error_message is scrubbed of numbers', async () => {
    simulator.injectFault({ kind: 'sendmode-error', status: 'Number +353871234567 is barred' });
    const error = (await failure(client.send(KEY, sms))) as UpstreamRejectedError;
    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect(error.upstream.status).toBe('NOT_SUCCESSFUL');
    expect(error.permanent).toBe(true);
    expect(error.upstream.error).toMatch(/barred/);
    expect(JSON.stringify(error.upstream)).not.toContain('871234567');
  });

  it('a 4xx rejection on demand keeps its HTTP status', async () => {
    simulator.injectFault({ kind: 'sendmode-error', httpStatus: 422, status: 'Blocked' });
    const error = (await failure(client.send(KEY, sms))) as UpstreamRejectedError;
    expect(error.upstream).toMatchObject({ status: 'HTTP_422', error: 'Blocked' });
    expect(error.httpStatus).toBe(422);
    expect(error.permanent).toBe(true);
  });

  it('HTTP 500 with error_message is a transient rejection', async () => {
    simulator.injectFault({ kind: 'system-error' });
    const error = (await failure(client.send(KEY, sms))) as UpstreamRejectedError;
    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect(error.upstream.status).toBe('HTTP_500');
    expect(error.permanent).toBe(false);
  });

  it('a low balance is refused and nothing is spent', async () => {
    simulator.setBalance(2);
    const error = (await failure(
      client.send(KEY, { ...sms, recipients: ['+353871234567', '+353861234567', '+353851234567'] }),
    )) as UpstreamRejectedError;
    expect(error.upstream.error).toMatch(/Insufficient credit/);
    expect(simulator.balance()).toBe(2);
  });
});
