/**
 * Telemetry end to end: the local host with APPLICATIONINSIGHTS_CONNECTION_STRING pointing at a
 * stand-in for the Application Insights ingestion endpoint. One send produces a request, a
 * dependency to the Sendmode simulator, the `sendmode.calls` metric and the summary log with its
 * fields as dimensions, all in one operation; a queued send continues the request's trace across
 * the queue; and nothing received holds the API key, the message text or a full number.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { E2E_API_KEY, type HostsEnv, startHostsEnv } from '../helpers/hosts-env.js';
import { type Ingestion, startIngestion, type TelemetryItem } from '../helpers/ingestion.js';

const NUMBER = '+353861234567';
const TEXT = 'Quarterly invoice 4471 is ready for Ms Byrne';

let env: HostsEnv;
let ingestion: Ingestion;
let host: string;

beforeAll(async () => {
  ingestion = await startIngestion();
  env = await startHostsEnv(1, {
    ...ingestion.env,
    APPLICATIONINSIGHTS_STATSBEAT_DISABLED: 'true',
    OTEL_METRIC_EXPORT_INTERVAL: '1000',
    OTEL_BSP_SCHEDULE_DELAY: '200',
    OTEL_BLRP_SCHEDULE_DELAY: '200',
    AzureFunctionsJobHost__extensions__queues__maxPollingInterval: '00:00:00.200',
  });
  host = env.hosts[0]!.url;
}, 180_000);
afterAll(async () => {
  await env?.stop();
  await ingestion?.close();
});

/** Waits until `find` returns something from what was received. */
async function received<T>(what: string, find: () => T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) {
      const names = ingestion.items.map(
        (item) => `${item.data?.baseType}:${String(item.data?.baseData?.name)}`,
      );
      throw new Error(`No ${what} within ${ms} ms; received: ${names.join(', ')}`);
    }
    await sleep(100);
  }
}

const operationId = (item: TelemetryItem) => item.tags?.['ai.operation.id'];
const props = (item: TelemetryItem) =>
  (item.data?.baseData?.properties ?? {}) as Record<string, string>;

describe('a send through the local host, exported to Application Insights', () => {
  it('arrives as a request, a Sendmode dependency, the sendmode.calls metric and a structured log', async () => {
    const res = await fetch(`${host}/api/sms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messagetext: TEXT, recipients: [NUMBER] }),
    });
    expect(res.status).toBe(200);

    const request = await received('request for POST /api/sms', () =>
      ingestion.itemsOfType('RequestData').find((i) => i.data?.baseData?.name === 'POST /api/sms'),
    );
    expect(request.data?.baseData?.responseCode).toBe('200');
    expect(request.data?.baseData?.success).toBe(true);
    const trace = operationId(request);
    expect(trace).toMatch(/^[0-9a-f]{32}$/);

    const simulatorHost = new URL(env.simulator.url).host;
    const dependency = await received('Sendmode dependency', () =>
      ingestion
        .itemsOfType('RemoteDependencyData')
        .find(
          (i) =>
            operationId(i) === trace &&
            String(i.data?.baseData?.data).startsWith(`http://${simulatorHost}/`),
        ),
    );
    expect(dependency.data?.baseData?.name).toMatch(/^POST \//);
    expect(dependency.data?.baseData?.target).toBe(new URL(env.simulator.url).hostname);
    expect(dependency.data?.baseData?.resultCode).toBe('200');
    expect(dependency.data?.baseData?.success).toBe(true);

    const log = await received('summary log', () =>
      ingestion
        .itemsOfType('MessageData')
        .find((i) => props(i).operation === 'send-sms' && operationId(i) === trace),
    );
    expect(props(log)).toMatchObject({ outcome: 'success', status: '200', recipientCount: '1' });
    expect(props(log).invocationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(log.data?.baseData?.message).toBe('send-sms success');

    const metric = await received('sendmode.calls metric', () =>
      ingestion.itemsOfType('MetricData').find((i) => {
        const metrics = (i.data?.baseData?.metrics ?? []) as Array<{ name: string }>;
        const p = props(i);
        return (
          metrics.some((m) => m.name === 'sendmode.calls') &&
          p.operation === 'send' &&
          p.class === 'interactive' &&
          p.outcome === 'ok'
        );
      }),
    );
    expect(metric).toBeDefined();
    await received('sms.recipients metric', () =>
      ingestion
        .itemsOfType('MetricData')
        .find((i) =>
          ((i.data?.baseData?.metrics ?? []) as Array<{ name: string }>).some(
            (m) => m.name === 'sms.recipients',
          ),
        ),
    );
  });

  it('continues the request’s trace in the queued send it caused', async () => {
    const res = await fetch(`${host}/api/sms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'respond-async' },
      body: JSON.stringify({ messagetext: TEXT, recipients: [NUMBER] }),
    });
    expect(res.status).toBe(202);
    const request = await received('request for the queued send', () =>
      ingestion
        .itemsOfType('RequestData')
        .find(
          (i) =>
            i.data?.baseData?.name === 'POST /api/sms' && i.data?.baseData?.responseCode === '202',
        ),
    );
    const trace = operationId(request);
    const consumer = await received('the queue function’s work in the same trace', () =>
      ingestion
        .itemsOfType('RequestData')
        .find(
          (i) => i.data?.baseData?.name === 'process send-queued-sms' && operationId(i) === trace,
        ),
    );
    expect(consumer.data?.baseData?.success).toBe(true);
    const simulatorHost = new URL(env.simulator.url).host;
    await received('the queued send’s Sendmode call in the same trace', () =>
      ingestion
        .itemsOfType('RemoteDependencyData')
        .find(
          (i) =>
            operationId(i) === trace &&
            String(i.data?.baseData?.data).startsWith(`http://${simulatorHost}/`),
        ),
    );
  });

  it('never sends the API key, the message text or a full number', async () => {
    // Let the batches of the sends above go out.
    await sleep(1_500);
    const everything = ingestion.raw.join('\n');
    expect(everything.length).toBeGreaterThan(0);
    expect(everything).not.toContain(E2E_API_KEY);
    expect(everything).not.toContain(TEXT);
    expect(everything).not.toContain('Quarterly invoice');
    expect(everything).not.toContain('353861234567');
    expect(everything).not.toContain('861234567');
  });
});
