/**
 * What the Functions host records of each invocation when the app exports telemetry
 * (host.json `telemetryMode: OpenTelemetry`): a span per invocation (SERVER for HTTP, a request
 * in Application Insights; CONSUMER for queue and timer work) whose trace context the host hands
 * to the worker in the invocation request. This host does the same through the tracer provider
 * the app registered (nothing is recorded when it registered none).
 */
import {
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';

export interface HostSpan {
  /** For the invocation request: the worker continues this trace. */
  traceContext?: { traceParent: string; traceState?: string };
  end(ok: boolean, httpStatus?: number): void;
}

const tracer = () => trace.getTracer('local-host');

/** The host's own storage work (polling, receipts, moving to poison): never the app's telemetry. */
export function hostWork<T>(work: () => T): T {
  return context.with(suppressTracing(context.active()), work);
}

/** An invocation runs outside the host's own (untraced) work, as in its own process. */
export function appWork<T>(work: () => T): T {
  return context.with(ROOT_CONTEXT, work);
}

function begin(
  name: string,
  kind: SpanKind,
  attributes: Record<string, string | number>,
): HostSpan {
  const span: Span = tracer().startSpan(name, { kind, attributes });
  if (!span.isRecording()) {
    span.end();
    return { end: () => {} };
  }
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(context.active(), span), carrier);
  return {
    ...(carrier.traceparent
      ? { traceContext: { traceParent: carrier.traceparent, traceState: carrier.tracestate } }
      : {}),
    end(ok, httpStatus) {
      if (httpStatus !== undefined) span.setAttribute('http.response.status_code', httpStatus);
      const failed = !ok || (httpStatus !== undefined && httpStatus >= 500);
      span.setStatus({ code: failed ? SpanStatusCode.ERROR : SpanStatusCode.OK });
      span.end();
    },
  };
}

/** An HTTP invocation; named by the route template, never the path (which can hold a number). */
export function httpInvocationSpan(
  fnName: string,
  method: string,
  route: string,
  url: URL,
): HostSpan {
  return begin(`${method} /${route}`, SpanKind.SERVER, {
    'faas.name': fnName,
    'faas.trigger': 'http',
    'http.request.method': method,
    'http.route': `/${route}`,
    'url.scheme': url.protocol.replace(':', ''),
    'url.path': url.pathname,
    'server.address': url.hostname,
  });
}

/** A queue (or timer) invocation. */
export function triggerInvocationSpan(fnName: string, trigger: string, source?: string): HostSpan {
  return begin(fnName, SpanKind.CONSUMER, {
    'ai.operation.name': fnName,
    'faas.name': fnName,
    'faas.trigger': trigger,
    ...(source ? { 'messaging.destination.name': source } : {}),
  });
}
