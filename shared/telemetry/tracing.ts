/**
 * The app's spans, through `@opentelemetry/api` only: with no tracer provider registered
 * (telemetry not configured) every span is a no-op and no trace context travels.
 *
 * - A Sendmode call is a CLIENT span (a dependency in Application Insights) with the method,
 *   host, path and status: never the key (a header), the body or the query.
 * - A queue message the app writes carries the W3C `traceparent` of the work that wrote it; the
 *   function that takes it runs in a CONSUMER span (a request in Application Insights) that
 *   continues that trace and links to the host's own invocation, so one transaction shows a
 *   request and every queue hop it caused.
 */
import {
  context,
  type Link,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';

export const TRACER_NAME = 'sendmode-connector';

const tracer = () => trace.getTracer(TRACER_NAME);

/** A valid W3C trace context header: version 00, 32 and 16 hex digits (not all zero), flags. */
const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The `traceparent` of the active span, or undefined when nothing is traced. */
export function currentTraceparent(): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  const value = carrier.traceparent;
  return value !== undefined && TRACEPARENT.test(value) ? value : undefined;
}

export function isTraceparent(value: unknown): value is string {
  return typeof value === 'string' && TRACEPARENT.test(value);
}

export interface HttpCallTarget {
  method: string;
  /** scheme://host[:port], no path. */
  origin: string;
  /** The path only: the query never goes in. */
  path: string;
}

/** Runs one HTTP call to Sendmode as a CLIENT span; `statusOf` reads the HTTP status of its answer. */
export function tracedHttpCall<T>(
  target: HttpCallTarget,
  call: () => Promise<T>,
  statusOf: (answer: T) => number,
): Promise<T> {
  const url = new URL(target.origin);
  return tracer().startActiveSpan(
    `${target.method} ${target.path}`,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        'http.request.method': target.method,
        'server.address': url.hostname,
        'server.port': Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
        'url.scheme': url.protocol.replace(':', ''),
        'url.path': target.path,
        'url.full': `${url.origin}${target.path}`,
      },
    },
    async (span) => {
      try {
        const answer = await call();
        const status = statusOf(answer);
        span.setAttribute('http.response.status_code', status);
        if (status >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
        return answer;
      } catch (error) {
        failed(span, error);
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/**
 * Runs a queue function's work as a CONSUMER span: the child of the `traceparent` its message
 * carried when there is one (linked to the host's invocation), else of the invocation itself.
 */
export function tracedQueueWork<T>(
  operation: string,
  traceparent: string | undefined,
  work: () => Promise<T>,
): Promise<T> {
  const invocation = trace.getSpanContext(context.active());
  const parent = traceparent
    ? propagation.extract(context.active(), { traceparent })
    : context.active();
  const links: Link[] = traceparent && invocation ? [{ context: invocation }] : [];
  return tracer().startActiveSpan(
    `process ${operation}`,
    {
      kind: SpanKind.CONSUMER,
      links,
      attributes: {
        // Application Insights names a request made of a CONSUMER span by this attribute only.
        'ai.operation.name': `process ${operation}`,
        'messaging.system': 'azure_storage_queue',
        'messaging.operation.type': 'process',
        'faas.name': operation,
      },
    },
    parent,
    async (span) => {
      try {
        return await work();
      } catch (error) {
        failed(span, error);
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/** Records how the active span's work ended (a queue message's disposition, for example). */
export function noteOutcome(outcome: string, isFailure: boolean): void {
  const span = trace.getActiveSpan();
  if (!span) return;
  span.setAttribute('sendmode.outcome', outcome);
  if (isFailure) span.setStatus({ code: SpanStatusCode.ERROR });
}

/** Names the error's kind (or class), never its message (which could quote input). */
function failed(span: Span, error: unknown): void {
  span.setStatus({ code: SpanStatusCode.ERROR });
  const kind = (error as { kind?: unknown } | null)?.kind;
  span.setAttribute(
    'error.type',
    typeof kind === 'string'
      ? kind
      : error instanceof Error
        ? error.constructor.name
        : typeof error,
  );
}
