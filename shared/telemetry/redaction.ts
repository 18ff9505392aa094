/**
 * What the exporter sends is scrubbed here, in the app's process, before it leaves: spans (the
 * Azure SDK's HTTP spans name table rows, whose keys can hold phone digits) and log records (the
 * summary line's text is turned into fields: `customDimensions` in Application Insights). The
 * API key never gets this far (it travels in a header no span records; see tracing.ts).
 */
import type { Attributes, AttributeValue } from '@opentelemetry/api';
import type { LogAttributes } from '@opentelemetry/api-logs';
import type { LogRecordProcessor, SdkLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';

import { scrubPhoneNumbers } from '../redact.js';

/** Ids (trace, span, invocation, message) are kept as they are: hex and dashes only. */
const ID_VALUE = /^[0-9a-f-]{16,}$/i;

const URL_VALUE = /^https?:\/\/[^/?#]+/i;

/** A string as it may leave: ids kept, a URL's host kept (an IP address is not a number). */
function scrubText(text: string): string {
  if (ID_VALUE.test(text)) return text;
  const origin = URL_VALUE.exec(text)?.[0];
  return origin ? origin + scrubPhoneNumbers(text.slice(origin.length)) : scrubPhoneNumbers(text);
}

function scrubValue(value: AttributeValue | undefined): AttributeValue | undefined {
  if (typeof value === 'string') return scrubText(value);
  if (Array.isArray(value)) {
    return value.map((item: unknown) =>
      typeof item === 'string' ? scrubText(item) : item,
    ) as AttributeValue;
  }
  return value;
}

/** Host names and addresses (`server.address`, `net.peer.name`): an IP address is not a number. */
const HOST_KEY = /(^|\.)(address|host|peer\.name|host\.name)$/;

/** Scrubs the string values of `attributes` in place. */
function scrubAttributes(attributes: Attributes): void {
  for (const [key, value] of Object.entries(attributes)) {
    if (!HOST_KEY.test(key)) attributes[key] = scrubValue(value);
  }
}

/** Runs before the exporter's batch processor: a span's attributes, events and status text. */
export class RedactingSpanProcessor implements SpanProcessor {
  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    scrubAttributes(span.attributes);
    for (const event of span.events) if (event.attributes) scrubAttributes(event.attributes);
    const status = span.status as { message?: string };
    if (status.message) status.message = scrubText(status.message);
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** The fields of one of the app's summary lines (a JSON object naming its `operation`), else undefined. */
export function summaryFields(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      typeof (value as { operation?: unknown }).operation === 'string'
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Log attributes take primitives and arrays of them; anything deeper travels as JSON. */
function asLogAttributes(fields: Record<string, unknown>): LogAttributes {
  const attributes: LogAttributes = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined || value === null) continue;
    const primitive = ['string', 'number', 'boolean'].includes(typeof value);
    const primitives =
      Array.isArray(value) && value.every((item) => ['string', 'number'].includes(typeof item));
    attributes[key] = primitive || primitives ? (value as AttributeValue) : JSON.stringify(value);
  }
  return attributes;
}

/**
 * Turns each summary line into a log record with its fields as attributes and a short body
 * (`send-sms success`); scrubs every other record's text of phone numbers.
 */
export class StructuredLogProcessor implements LogRecordProcessor {
  onEmit(record: SdkLogRecord): void {
    if (typeof record.body === 'string') {
      const fields = summaryFields(record.body);
      if (fields) {
        record.setAttributes(asLogAttributes(fields));
        record.setBody(`${String(fields.operation)} ${String(fields.outcome ?? '')}`.trim());
      } else {
        record.setBody(scrubText(record.body));
      }
    }
    for (const [key, value] of Object.entries(record.attributes)) {
      const scrubbed = scrubValue(value as AttributeValue);
      if (scrubbed !== value) record.setAttribute(key, scrubbed);
    }
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
