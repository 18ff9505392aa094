/** The Sendmode client against the simulator over real HTTP: wire format and every error class. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  UpstreamRejectedError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
} from '../shared/errors.js';
import { SendmodeClient } from '../shared/sendmode/client-v2.js';
import { startSimulator } from '../tools/sendmode-simulator/simulator.js';
import type { Simulator } from '../tools/sendmode-simulator/types.js';

const KEY = 'client-test-key';
let simulator: Simulator;
let client: SendmodeClient;

function clientFor(
  baseUrl: string,
  overrides: Partial<ConstructorParameters<typeof SendmodeClient>[0]> = {},
) {
  return new SendmodeClient({
    baseUrl,
    connectTimeoutMs: 1_000,
    headersTimeoutMs: 500,
    bodyTimeoutMs: 500,
    maxConnections: 4,
    ...overrides,
  });
}

beforeAll(async () => {
  simulator = await startSimulator({ apiKeys: [KEY], balance: 50 });
  client = clientFor(simulator.url);
});
afterAll(async () => {
  await client.close();
  await simulator.close();
});
afterEach(() => simulator.reset());

describe('wire format', () => {
  it('sends SMS as form field `message` holding JSON, with the raw key in Authorization', async () => {
    const result = await client.send(KEY, {
      messagetext: 'Hello',
      recipients: ['0871234567', '+353861234567'],
      senderid: 'Acme',
      customerid: 'order-1',
    });
    expect(result).toMatchObject({ status: 'OK', statusCode: 0 });
    expect(result.message?.recipients).toEqual(['0871234567', '+353861234567']);
    const [call] = simulator.callsFor('send');
    expect(call).toMatchObject({ method: 'POST', authorized: true });
    expect(call?.contentType).toMatch(/^application\/x-www-form-urlencoded/);
    expect(call?.payload).toMatchObject({ messagetext: 'Hello', customerid: 'order-1' });
  });

  it('reads credits (balance)', async () => {
    const result = await client.credits(KEY);
    expect(result).toEqual({ status: 'OK', statusCode: 0, balance: 50 });
    expect(simulator.callsFor('credits')[0]?.method).toBe('GET');
  });

  it('imports a customer with form fields importdata (JSON) and group', async () => {
    const result = await client.importCustomer(KEY, {
      group: 'vip',
      importdata: { mobilenumber: '0871234567', firstname: 'Ann', dateofbirth: '31/01/1990' },
    });
    expect(result).toMatchObject({ status: 'OK', statusCode: 0, group: 'vip' });
    expect(simulator.contacts()).toEqual([
      expect.objectContaining({ group: 'vip', mobilenumber: '0871234567', importCount: 1 }),
    ]);
  });

  it('opts a number out with form field message (JSON)', async () => {
    const result = await client.optOut(KEY, { mobilenumber: '0871234567', optoutresponse: 'STOP' });
    expect(result).toMatchObject({ status: 'OK', statusCode: 0 });
    expect(simulator.optOuts()).toEqual([{ mobilenumber: '0871234567', count: 1 }]);
  });

  it('reuses one keep-alive connection for sequential calls', async () => {
    const server = await new Promise<Server>((resolve) => {
      const s = createServer((_req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ status: 'OK', statusCode: 0, balance: 1 }));
      }).listen(0, '127.0.0.1', () => resolve(s));
    });
    let connections = 0;
    server.on('connection', () => (connections += 1));
    const local = clientFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v2`);
    for (let i = 0; i < 10; i += 1) await local.credits(KEY);
    await local.close();
    server.close();
    // The pool may open a second socket while the first is being released; never one per call.
    expect(connections).toBeLessThanOrEqual(2);
  });
});

describe('errors', () => {
  async function failure(promise: Promise<unknown>) {
    return promise.then(
      () => expect.unreachable('expected a failure'),
      (error: unknown) => error,
    );
  }

  it('a wrong key is a permanent rejection that keeps status, statusCode and error', async () => {
    const error = await failure(client.credits('wrong-key'));
    expect(error).toBeInstanceOf(UpstreamRejectedError);
    const rejected = error as UpstreamRejectedError;
    expect(rejected.upstream).toMatchObject({ status: 'INVALID_ACCESS_KEY', statusCode: 14 });
    expect(typeof rejected.upstream.error).toBe('string');
    expect(rejected.permanent).toBe(true);
    expect(rejected.isAuthFailure).toBe(true);
  });

  it.each([
    [{ messagetext: 'x', recipients: ['12'] }, 'INVALID_MOBILE_NUMBER', 11],
    [
      { messagetext: 'x', recipients: ['0871234567'], senderid: 'much too long sender' },
      'INVALID_SENDER_ID',
      10,
    ],
    [
      { messagetext: 'x', recipients: ['0871234567'], scheduledate: 'soon' },
      'INVALID_SCHEDULE_DATE_FORMAT',
      97,
    ],
    [{ messagetext: '', recipients: ['0871234567'] }, 'EXPECTED_PARAMETER_MISSING', 195],
  ])('bad input %# is a permanent rejection (%s)', async (request, status, statusCode) => {
    const error = await failure(client.send(KEY, request));
    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect((error as UpstreamRejectedError).upstream).toMatchObject({ status, statusCode });
    expect((error as UpstreamRejectedError).permanent).toBe(true);
  });

  it('upstream error text is scrubbed of phone numbers', async () => {
    const error = (await failure(
      client.send(KEY, { messagetext: 'x', recipients: ['0871234567', '99'] }),
    )) as UpstreamRejectedError;
    expect(JSON.stringify(error.upstream)).not.toMatch(/0871234567/);
  });

  it('SYSTEM_ERROR is a transient rejection', async () => {
    simulator.injectFault({ kind: 'system-error' });
    const error = await failure(client.credits(KEY));
    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect((error as UpstreamRejectedError).upstream.statusCode).toBe(8);
    expect((error as UpstreamRejectedError).permanent).toBe(false);
  });

  it.each([500, 502, 503, 504])(
    'HTTP %i is transient: upstream unavailable',
    async (httpStatus) => {
      simulator.injectFault({ kind: 'http-error', httpStatus });
      const error = await failure(client.credits(KEY));
      expect((error as { permanent?: boolean }).permanent).toBe(false);
      expect(error).toSatisfy(
        (e) => e instanceof UpstreamUnavailableError || e instanceof UpstreamRejectedError,
      );
    },
  );

  it('HTTP 429 is transient and carries Retry-After', async () => {
    simulator.injectFault({ kind: 'rate-limit', retryAfterSeconds: 7 });
    const error = await failure(client.credits(KEY));
    expect(error).toBeInstanceOf(UpstreamUnavailableError);
    expect(error).toMatchObject({ httpStatus: 429, retryAfterMs: 7000, permanent: false });
  });

  it('a reset connection is transient', async () => {
    simulator.injectFault({ kind: 'reset' });
    const error = await failure(client.credits(KEY));
    expect(error).toBeInstanceOf(UpstreamUnavailableError);
    expect((error as Error).message).not.toContain(KEY);
  });

  it('an unparseable body is transient', async () => {
    simulator.injectFault({ kind: 'malformed' });
    const error = await failure(client.credits(KEY));
    expect(error).toBeInstanceOf(UpstreamUnavailableError);
    expect((error as Error).message).toMatch(/not its JSON/);
  });

  it('no answer within the headers time-out is a time-out', async () => {
    simulator.injectFault({ kind: 'latency', latencyMs: 2_000, times: 1 });
    const started = Date.now();
    const error = await failure(client.credits(KEY));
    expect(error).toBeInstanceOf(UpstreamTimeoutError);
    expect((error as UpstreamTimeoutError).phase).toBe('headers');
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('a body that stalls past the body time-out is a time-out', async () => {
    const server = await new Promise<Server>((resolve) => {
      const s = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"status":"OK",'); // then nothing
      }).listen(0, '127.0.0.1', () => resolve(s));
    });
    const local = clientFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v2`);
    const error = await failure(local.credits(KEY));
    await local.close();
    server.closeAllConnections();
    server.close();
    expect(error).toBeInstanceOf(UpstreamTimeoutError);
    expect((error as UpstreamTimeoutError).phase).toBe('body');
  });

  it('a refused connection is transient', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const local = clientFor(`http://127.0.0.1:${port}/v2`);
    const error = await failure(local.credits(KEY));
    await local.close();
    expect(error).toBeInstanceOf(UpstreamUnavailableError);
    expect((error as Error).message).toMatch(/ECONNREFUSED/);
  });

  it('a non-JSON 4xx is a permanent rejection', async () => {
    const server = await new Promise<Server>((resolve) => {
      const s = createServer((_req, res) => {
        res.writeHead(404, { 'content-type': 'text/html' });
        res.end('<h1>Not Found</h1>');
      }).listen(0, '127.0.0.1', () => resolve(s));
    });
    const local = clientFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v2`);
    const error = await failure(local.credits(KEY));
    await local.close();
    server.close();
    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect((error as UpstreamRejectedError).upstream).toMatchObject({ status: 'HTTP_404' });
    expect((error as UpstreamRejectedError).permanent).toBe(true);
  });
});
