/**
 * The failures both API generations share, run against each one's client and the simulator's
 * matching side: throttling, 5xx, resets, unreadable answers, time-outs. Sends are used because
 * they are the operation both offer.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  UpstreamRejectedError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
} from '../shared/errors.js';
import type { SendmodeApi } from '../shared/sendmode/api.js';
import { SendmodeClient } from '../shared/sendmode/client-v2.js';
import { SendmodeClientV3 } from '../shared/sendmode/client-v3.js';
import { startSimulator } from '../tools/sendmode-simulator/simulator.js';
import type { Simulator } from '../tools/sendmode-simulator/types.js';

const KEY = 'versions-test-key';
let simulator: Simulator;
const clients: SendmodeApi[] = [];

beforeAll(async () => {
  simulator = await startSimulator({ apiKeys: [KEY] });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await simulator.close();
});
afterEach(() => simulator.reset());

const options = {
  connectTimeoutMs: 1_000,
  headersTimeoutMs: 500,
  bodyTimeoutMs: 500,
  maxConnections: 4,
};
const generations = [
  { version: 'v2', make: () => new SendmodeClient({ ...options, baseUrl: simulator.url }) },
  { version: 'v3', make: () => new SendmodeClientV3({ ...options, baseUrl: simulator.urlV3 }) },
] as const;

const sms = { messagetext: 'Hello', recipients: ['+353871234567'], senderid: 'Acme' };

async function failure(promise: Promise<unknown>) {
  return promise.then(
    () => expect.unreachable('expected a failure'),
    (error: unknown) => error,
  );
}

describe.each(generations)('$version', ({ version, make }) => {
  let client: SendmodeApi;
  beforeAll(() => {
    client = make();
    clients.push(client);
  });

  it('speaks its own generation and sends to its own endpoints', async () => {
    expect(client.version).toBe(version);
    const result = await client.send(KEY, sms);
    expect(result).toMatchObject({
      status: 'OK',
      statusCode: 0,
      message: { recipients: sms.recipients },
    });
    expect(simulator.calls().map((c) => c.apiVersion)).toEqual([version]);
  });

  it('a refused key is an auth failure', async () => {
    const error = await failure(client.send('wrong', sms));
    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect((error as UpstreamRejectedError).isAuthFailure).toBe(true);
  });

  it.each([500, 502, 503, 504])('HTTP %i is transient', async (httpStatus) => {
    simulator.injectFault({ kind: 'http-error', httpStatus });
    const error = await failure(client.send(KEY, sms));
    expect(error).toSatisfy(
      (e) => e instanceof UpstreamUnavailableError || e instanceof UpstreamRejectedError,
    );
    expect((error as { permanent: boolean }).permanent).toBe(false);
  });

  it('HTTP 429 is transient and carries Retry-After', async () => {
    simulator.injectFault({ kind: 'rate-limit', retryAfterSeconds: 7 });
    const error = await failure(client.send(KEY, sms));
    expect(error).toBeInstanceOf(UpstreamUnavailableError);
    expect(error).toMatchObject({ httpStatus: 429, retryAfterMs: 7000, permanent: false });
  });

  it('a reset connection is transient and may have reached Sendmode', async () => {
    simulator.injectFault({ kind: 'reset' });
    const error = await failure(client.send(KEY, sms));
    expect(error).toBeInstanceOf(UpstreamUnavailableError);
    expect((error as UpstreamUnavailableError).requestSent).toBe(true);
  });

  it('an unreadable answer is transient', async () => {
    simulator.injectFault({ kind: 'malformed' });
    const error = await failure(client.send(KEY, sms));
    expect(error).toBeInstanceOf(UpstreamUnavailableError);
    expect((error as Error).message).toMatch(/not its JSON/);
  });

  it('no answer within the headers time-out is a time-out', async () => {
    simulator.injectFault({ kind: 'latency', latencyMs: 2_000, times: 1 });
    const error = await failure(client.send(KEY, sms));
    expect(error).toBeInstanceOf(UpstreamTimeoutError);
  });
});
