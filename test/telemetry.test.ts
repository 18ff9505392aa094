/**
 * Telemetry in one process: the metrics the app records (through a real OpenTelemetry meter
 * provider and reader), the Sendmode CLIENT span, the trace a queue message carries, and what
 * the redaction and structured-log processors let out. The exporter itself is exercised end to
 * end in test/e2e/telemetry.test.ts.
 */
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { ENVELOPE_KIND, withTraceparent } from '../shared/queues/envelope.js';
import { openDelivery, settle } from '../shared/queues/queue-work.js';
import { StaticSecretProvider } from '../shared/secrets.js';
import { SendmodeClient } from '../shared/sendmode/client-v2.js';
import { Sendmode } from '../shared/sendmode/sendmode.js';
import { countLimitWait, noteAdmitted, resetMetrics } from '../shared/telemetry/metrics.js';
import { RedactingSpanProcessor, summaryFields } from '../shared/telemetry/redaction.js';
import { telemetryConfigured } from '../shared/telemetry/start.js';
import { currentTraceparent, tracedQueueWork } from '../shared/telemetry/tracing.js';
import { startSimulator } from '../tools/sendmode-simulator/simulator.js';
import type { Simulator } from '../tools/sendmode-simulator/types.js';

const KEY = 'telemetry-test-key';
const silent = { info() {}, warn() {}, error() {} };

class TestReader extends MetricReader {
  protected onForceFlush = () => Promise.resolve();
  protected onShutdown = () => Promise.resolve();
}

let reader: TestReader;
const spans = new InMemorySpanExporter();
let simulator: Simulator;
let client: SendmodeClient;
const openGate = { acquire: () => Promise.resolve() };

beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({
      spanProcessors: [new RedactingSpanProcessor(), new SimpleSpanProcessor(spans)],
    }),
  );
  simulator = await startSimulator({ apiKeys: [KEY] });
  client = new SendmodeClient({
    baseUrl: simulator.url,
    connectTimeoutMs: 1_000,
    headersTimeoutMs: 1_000,
    bodyTimeoutMs: 1_000,
    maxConnections: 2,
  });
});
afterAll(async () => {
  await client.close();
  await simulator.close();
  trace.disable();
  propagation.disable();
  context.disable();
});
beforeEach(() => {
  reader = new TestReader();
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  resetMetrics();
  spans.reset();
  simulator.reset();
});
afterEach(() => {
  metrics.disable();
  resetMetrics();
});

/** Each data point of `name` as `attributes → value`, attributes written `k=v,k=v` sorted. */
async function points(name: string): Promise<Record<string, number>> {
  const { resourceMetrics } = await reader.collect();
  const metric = resourceMetrics.scopeMetrics
    .flatMap((scope) => scope.metrics)
    .find((m) => m.descriptor.name === name);
  return Object.fromEntries(
    (metric?.dataPoints ?? []).map((point) => [
      Object.entries(point.attributes)
        .map(([k, v]) => `${k}=${String(v)}`)
        .sort()
        .join(','),
      point.value as number,
    ]),
  );
}

const sendmode = (key = KEY) => new Sendmode(client, new StaticSecretProvider(key), openGate);
const sms = { messagetext: 'x'.repeat(200), recipients: ['+353870000301', '+353870000302'] };

describe('sendmode.calls, sms.recipients and sms.parts', () => {
  it('count a call Sendmode took, by operation, class and outcome, and what it sent', async () => {
    await sendmode().send(sms, { workClass: 'background', log: silent, maxWaitMs: 0 });
    await sendmode().credits({ workClass: 'interactive', log: silent, maxWaitMs: 0 });
    expect(await points('sendmode.calls')).toEqual({
      'class=background,operation=send,outcome=ok': 1,
      'class=interactive,operation=credits,outcome=ok': 1,
    });
    expect(await points('sms.recipients')).toEqual({ 'class=background': 2 });
    // 200 GSM-7 characters are two parts, to each of two recipients.
    expect(await points('sms.parts')).toEqual({ 'class=background': 4 });
  });

  it('tell rejected (and a refused key), failed and throttled apart', async () => {
    const call = (kind: Parameters<Simulator['injectFault']>[0]['kind'], key = KEY) => {
      if (kind) simulator.injectFault({ kind, times: 1 });
      return sendmode(key)
        .credits({ workClass: 'interactive', log: silent, maxWaitMs: 0 })
        .catch(() => undefined);
    };
    await call('sendmode-error');
    await call('http-error');
    await call('rate-limit');
    simulator.reset();
    await sendmode('not-the-key')
      .credits({ workClass: 'interactive', log: silent, maxWaitMs: 0 })
      .catch(() => undefined);
    expect(await points('sendmode.calls')).toEqual({
      'class=interactive,operation=credits,outcome=rejected': 1,
      'class=interactive,operation=credits,outcome=failed': 1,
      'class=interactive,operation=credits,outcome=throttled': 1,
      'class=interactive,operation=credits,outcome=rejected,reason=key': 1,
    });
    expect(await points('sms.recipients')).toEqual({});
  });

  it('count nothing when the send is refused before any call', async () => {
    const refused = sendmode().send(sms, {
      workClass: 'interactive',
      log: silent,
      maxWaitMs: 0,
      beforeCall: () => Promise.reject(new Error('everyone opted out')),
    });
    await expect(refused).rejects.toThrow('everyone opted out');
    expect(await points('sendmode.calls')).toEqual({});
    expect(simulator.calls()).toHaveLength(0);
  });
});

describe('the limit and the queues as metrics', () => {
  it('sendmode.limit.waits by class and kind; queue.poisoned by queue; deferrals counted by settle', async () => {
    countLimitWait('interactive', 'rejected');
    const queued: Array<{ queue: string; payload: unknown }> = [];
    const enqueue = (queue: string, payload: unknown) => {
      queued.push({ queue, payload });
      return Promise.resolve();
    };
    const delivery = openDelivery(JSON.stringify({ a: 1 }), 1);
    await settle({ action: 'defer', delaySeconds: 3 }, delivery, 'customer-imports', enqueue);
    await settle({ action: 'poison', reason: 'bad' }, delivery, 'customer-imports', enqueue);
    expect(await points('sendmode.limit.waits')).toEqual({
      'class=interactive,kind=rejected': 1,
      'class=background,kind=deferred': 1,
    });
    expect(await points('queue.poisoned')).toEqual({ 'queue=customer-imports': 1 });
    expect(queued.map((q) => q.queue)).toEqual(['customer-imports', 'customer-imports-poison']);
  });

  it('sendmode.limit.admitted reports the window as last seen, and nothing once that is stale', async () => {
    // Delta, as the Application Insights exporter reads: a gauge not observed reports nothing.
    const delta = new TestReader({
      aggregationTemporalitySelector: () => AggregationTemporality.DELTA,
    });
    metrics.disable();
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [delta] }));
    resetMetrics();
    const gauge = async () => {
      const { resourceMetrics } = await delta.collect();
      const metric = resourceMetrics.scopeMetrics
        .flatMap((scope) => scope.metrics)
        .find((m) => m.descriptor.name === 'sendmode.limit.admitted');
      return Object.fromEntries(
        (metric?.dataPoints ?? []).map((p) => [String(p.attributes.class), p.value]),
      );
    };
    noteAdmitted({ interactive: 7, background: 61 });
    expect(await gauge()).toEqual({ interactive: 7, background: 61 });
    noteAdmitted({ interactive: 1, background: 2 }, Date.now() - 61_000);
    expect(await gauge()).toEqual({});
  });
});

describe('the Sendmode dependency span', () => {
  it('names method, host, path and status: never the key, the text or a number', async () => {
    await sendmode().send(sms, { workClass: 'interactive', log: silent, maxWaitMs: 0 });
    const [span] = spans.getFinishedSpans();
    expect(span?.name).toBe('POST /v2/send');
    expect(span?.kind).toBe(2); // CLIENT
    const url = new URL(simulator.url);
    expect(span?.attributes).toMatchObject({
      'http.request.method': 'POST',
      'server.address': url.hostname,
      'server.port': Number(url.port),
      'url.path': '/v2/send',
      'http.response.status_code': 200,
    });
    const text = JSON.stringify(
      spans.getFinishedSpans().map((s) => [s.name, s.attributes, s.events, s.status]),
    );
    expect(text).not.toContain(KEY);
    expect(text).not.toContain('xxxxxxxx');
    expect(text).not.toContain('870000301');
  });

  it('is marked failed with the error type, not its message, when the call fails', async () => {
    simulator.injectFault({ kind: 'reset', times: 1 });
    await sendmode()
      .credits({ workClass: 'interactive', log: silent, maxWaitMs: 0 })
      .catch(() => undefined);
    const [span] = spans.getFinishedSpans();
    expect(span?.status.code).toBe(2); // ERROR
    expect(span?.attributes['error.type']).toBe('upstream-unavailable');
  });
});

describe('a queue message carries the trace that wrote it', () => {
  it('wraps a bare payload (no attempts yet) and adds the trace to an envelope; untraced, nothing changes', () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    expect(withTraceparent({ a: 1 }, undefined)).toEqual({ a: 1 });
    const wrapped = withTraceparent({ a: 1 }, traceparent);
    expect(wrapped).toEqual({
      kind: ENVELOPE_KIND,
      attempts: 0,
      deferrals: 0,
      traceparent,
      payload: { a: 1 },
    });
    const opened = openDelivery(JSON.stringify(wrapped), 1);
    expect(opened).toMatchObject({ payload: { a: 1 }, attempt: 1, deferrals: 0, traceparent });
    // A retry envelope keeps its counts; a forged traceparent is not taken.
    const retry = { kind: ENVELOPE_KIND, attempts: 2, deferrals: 1, payload: 'p' };
    expect(withTraceparent(retry, traceparent)).toEqual({ ...retry, traceparent });
    expect(
      openDelivery(JSON.stringify({ ...retry, traceparent: 'x' }), 1).traceparent,
    ).toBeUndefined();
  });

  it('runs the queue work as a CONSUMER span in the writer’s trace, linked to the invocation', async () => {
    const writer = trace.getTracer('t').startSpan('request');
    const traceparent = context.with(trace.setSpan(context.active(), writer), currentTraceparent);
    writer.end();
    expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const invocation = trace.getTracer('t').startSpan('host invocation');
    const inside = await context.with(trace.setSpan(context.active(), invocation), () =>
      tracedQueueWork('import-customer', traceparent, () => Promise.resolve(currentTraceparent())),
    );
    invocation.end();
    const consumer = spans.getFinishedSpans().find((s) => s.name === 'process import-customer');
    expect(consumer?.kind).toBe(4); // CONSUMER
    expect(consumer?.spanContext().traceId).toBe(writer.spanContext().traceId);
    expect(consumer?.parentSpanContext?.spanId).toBe(writer.spanContext().spanId);
    expect(consumer?.links[0]?.context.spanId).toBe(invocation.spanContext().spanId);
    // What the work writes onward carries the consumer span's trace.
    expect(inside?.split('-')[1]).toBe(writer.spanContext().traceId);
  });
});

describe('redaction', () => {
  it('masks numbers in span attributes, events and status, keeping hosts and ids', () => {
    const span = trace.getTracer('t').startSpan('GET table');
    span.setAttribute(
      'url.full',
      "http://127.0.0.1:10002/acct/optouts(PartitionKey='p',RowKey='353870000999')",
    );
    span.setAttribute('server.address', '127.0.0.1');
    span.setAttribute('request.id', '0af7651916cd43dd8448eb211c80319c');
    span.addEvent('exception', { 'exception.message': 'no entity for +353 87 000 0999' });
    span.setStatus({ code: 2, message: 'failed for 353870000999' });
    span.end();
    const [done] = spans.getFinishedSpans();
    expect(String(done?.attributes['url.full'])).toMatch(/^http:\/\/127\.0\.0\.1:10002\//);
    expect(JSON.stringify(done?.attributes)).not.toContain('870000999');
    expect(done?.attributes['server.address']).toBe('127.0.0.1');
    expect(done?.attributes['request.id']).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(JSON.stringify(done?.events)).not.toContain('000 0999');
    expect(done?.status.message).not.toContain('870000999');
  });

  it('reads only the app’s own summary lines as fields', () => {
    expect(summaryFields('{"operation":"send-sms","outcome":"success","status":200}')).toEqual({
      operation: 'send-sms',
      outcome: 'success',
      status: 200,
    });
    for (const text of [
      'plain text',
      '{"no":"operation"}',
      '[1,2]',
      '{broken',
      '{"operation":7}',
    ]) {
      expect(summaryFields(text)).toBeUndefined();
    }
  });
});

describe('telemetry is configured', () => {
  it('only by a non-empty connection string, and not when OTEL_SDK_DISABLED is true', () => {
    expect(telemetryConfigured({})).toBe(false);
    expect(telemetryConfigured({ APPLICATIONINSIGHTS_CONNECTION_STRING: '  ' })).toBe(false);
    expect(
      telemetryConfigured({ APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=x' }),
    ).toBe(true);
    expect(
      telemetryConfigured({
        APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=x',
        OTEL_SDK_DISABLED: 'TRUE',
      }),
    ).toBe(false);
  });
});
