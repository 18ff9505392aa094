/**
 * The custom connector definition: valid Swagger 2.0, in step with the routes the app
 * registers and with the zod schemas that validate requests, served at /api/openapi.json, and
 * checked in as connector/apiDefinition.swagger.json without drifting.
 */
import { readdirSync, readFileSync } from 'node:fs';

import SwaggerParser from '@apidevtools/swagger-parser';
import { app, HttpRequest, type HttpResponseInit } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';

import {
  API_DEFINITION_PATH,
  API_PROPERTIES_PATH,
  CONNECTOR_HOST,
  connectorDefinition,
  connectorProperties,
  HOST_PARAMETER,
} from '../scripts/generate-connector.js';
import { appStatus } from '../shared/app-status.js';
import type { DeliveryStore } from '../shared/delivery/delivery-store.js';
import { MAX_IDEMPOTENCY_KEY_LENGTH } from '../shared/http/idempotency-key.js';
import {
  API_TITLE,
  API_VERSION,
  buildOpenApi,
  FUNCTION_KEY_HEADER,
} from '../shared/http/openapi.js';
import { swaggerSchema } from '../shared/http/openapi-convert.js';
import { DEFINITION_DOCS, FIELD_DOCS, fieldDoc } from '../shared/http/openapi-labels.js';
import { RESPOND_ASYNC } from '../shared/http/prefer.js';
import type { LimitSnapshot, RateLimiter } from '../shared/limit/rate-limiter.js';
import type { PendingSends } from '../shared/merge/pending-sends.js';
import { queueSend } from '../shared/outbox/async-send.js';
import type { SendStatus, SendStatusStore } from '../shared/outbox/send-status.js';
import { statusResponse } from '../shared/outbox/status-response.js';
import { MAX_CUSTOMER_BATCH } from '../shared/schemas/customer.js';
import { MAX_REPLY_TEXT_LENGTH } from '../shared/schemas/opt-out.js';
import {
  MAX_CUSTOMER_ID_LENGTH,
  MAX_RECIPIENTS,
  sendSmsSchema,
} from '../shared/schemas/send-sms.js';
import { parseSettings } from '../shared/settings.js';
import { EVENT_TYPE_NAMES, EVENT_TYPES } from '../shared/subscriptions/event-types.js';
import { compileRoute, matchRoute } from '../tools/local-host/routes.js';
import { testContext } from './helpers/app-env.js';

type Json = Record<string, unknown>;

interface Operation {
  operationId: string;
  summary: string;
  description?: string;
  parameters?: Json[];
  responses: Record<string, Json>;
  'x-ms-visibility'?: string;
}

interface Doc {
  swagger: string;
  info: { title: string; version: string };
  host?: string;
  basePath: string;
  schemes: string[];
  paths: Record<string, Record<string, Operation>>;
  definitions: Record<string, Json & { properties: Record<string, Json>; required?: string[] }>;
  securityDefinitions: Record<string, Json>;
  security: Record<string, string[]>[];
}

const doc = buildOpenApi({ host: 'example.azurewebsites.net' }) as Doc;
/** With the operator routes: every definition there is. */
const full = buildOpenApi({ admin: true }) as Doc;

type SchemaNode = Json & { properties?: Record<string, Json>; required?: string[]; items?: Json };

/** Every property under a schema, with its path of names (array items transparent). */
function properties(
  schema: SchemaNode,
  path: string[] = [],
): { path: string[]; property: SchemaNode; required: boolean }[] {
  const own = Object.entries(schema.properties ?? {}).flatMap(([name, value]) => {
    const property = value as SchemaNode;
    const at = [...path, name];
    return [
      { path: at, property, required: schema.required?.includes(name) ?? false },
      ...properties(property, at),
    ];
  });
  return schema.items ? [...own, ...properties(schema.items as SchemaNode, path)] : own;
}

/** The property at a dotted path of a schema (array items transparent). */
function propertyAt(schema: SchemaNode | undefined, path: string): SchemaNode | undefined {
  return properties(schema ?? {}).find((p) => p.path.join('.') === path)?.property;
}

/** The Sendmode connector on Power Platform: its operation ids and summaries. */
const ORIGINAL_OPERATIONS = [
  { path: '/sms', method: 'post', operationId: 'Send_SMS', summary: 'Send SMS' },
  { path: '/credits', method: 'get', operationId: 'Check_Credits', summary: 'Check Credits' },
  {
    path: '/customers',
    method: 'post',
    operationId: 'Import_Customer',
    summary: 'Import Customer',
  },
  // A flow's opt-out: /optouts, the function key its authorisation (/optout is the webhook's).
  { path: '/optouts', method: 'post', operationId: 'Optout_Customer', summary: 'Optout Customer' },
];
/** Operations this app adds to the original connector's. */
const ADDED_OPERATIONS = [
  { path: '/status', method: 'get', operationId: 'GetStatus', summary: 'Get Status' },
  { path: '/sms/', method: 'post', operationId: 'QueueSms', summary: 'Queue SMS' },
  { path: '/sms/{id}', method: 'get', operationId: 'GetSmsStatus', summary: 'Get SMS Status' },
  // The webhook triggers (flows see them as triggers, not actions).
  {
    path: '/subscriptions/optout-changed',
    method: 'post',
    operationId: 'WhenANumberOptsOutOrIn',
    summary: 'When a number opts out or opts back in',
  },
  {
    path: '/subscriptions/sms-delivery',
    method: 'post',
    operationId: 'WhenAnSmsIsDeliveredOrFails',
    summary: 'When an SMS is delivered or fails',
  },
];

/**
 * Documented paths that are another operation on a registered route: Swagger 2.0 takes one
 * operation per path and method, so Queue SMS (POST /sms with Prefer: respond-async) is written
 * /sms/, which routing takes as /sms (a trailing slash is ignored).
 */
const ALIASES: Record<string, string> = { '/sms/': '/sms' };

/**
 * Documented paths a route with a parameter serves: subscribe and every trigger are one function,
 * POST subscriptions/{event?}, which takes a trigger's event from the route.
 */
const SERVED_BY: Record<string, string> = {
  '/subscriptions': '/subscriptions/{event?}',
  '/subscriptions/optout-changed': '/subscriptions/{event?}',
  '/subscriptions/sms-delivery': '/subscriptions/{event?}',
};

/** Routes the app registers that are not part of the connector. */
const NOT_IN_CONNECTOR = ['health', 'openapi.json', 'status/page'];

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch'];

function operations(document: Doc): { path: string; method: string; operation: Operation }[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => HTTP_METHODS.includes(method))
      .map(([method, operation]) => ({ path, method, operation })),
  );
}

/** Every schema object in the document, wherever it sits. */
function* schemas(node: unknown): Generator<Json> {
  if (Array.isArray(node)) {
    for (const item of node) yield* schemas(item);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const record = node as Json;
  if (typeof record.type === 'string' || 'properties' in record || '$ref' in record) yield record;
  for (const value of Object.values(record)) yield* schemas(value);
}

describe('the OpenAPI 2.0 document', () => {
  it('is valid Swagger 2.0 (the validator’s schema and its spec checks)', async () => {
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeTruthy();
  });

  it('names the API, its version (package.json’s), where it answers and how it is secured', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(API_VERSION, 'keep API_VERSION in shared/http/openapi.ts equal to package.json').toBe(
      pkg.version,
    );
    expect(doc).toMatchObject({
      swagger: '2.0',
      info: { title: API_TITLE, version: pkg.version },
      host: 'example.azurewebsites.net',
      basePath: '/api',
      schemes: ['https'],
    });
    expect(API_TITLE).toBe('Sendmode (self-hosted)');
    expect(doc.securityDefinitions).toEqual({
      api_key: expect.objectContaining({ type: 'apiKey', in: 'header', name: 'x-functions-key' }),
    });
    expect(FUNCTION_KEY_HEADER).toBe('x-functions-key');
    expect(doc.security).toEqual([{ api_key: [] }]);
    expect(buildOpenApi()).not.toHaveProperty('host');
    expect(buildOpenApi({ basePath: '/v1' })).toMatchObject({ basePath: '/v1' });
  });

  it('has the original connector’s operation ids and summaries', () => {
    for (const { path, method, operationId, summary } of [
      ...ORIGINAL_OPERATIONS,
      ...ADDED_OPERATIONS,
    ]) {
      expect(doc.paths[path]?.[method], `${method} ${path}`).toMatchObject({
        operationId,
        summary,
      });
    }
    const visible = operations(doc).filter(
      ({ operation }) => operation['x-ms-visibility'] !== 'internal',
    );
    expect(visible.map(({ operation }) => operation.operationId).sort()).toEqual(
      [...ORIGINAL_OPERATIONS, ...ADDED_OPERATIONS].map(({ operationId }) => operationId).sort(),
    );
    const ids = operations(doc).map(({ operation }) => operation.operationId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('answers with documented shapes, and each error is a Problem', () => {
    const success = {
      'post /sms': ['200', 'SendSmsResult'],
      'get /credits': ['200', 'CreditsResult'],
      'post /customers': ['202', 'CustomersQueued'],
      'post /optout': ['200', 'OptOutResult'],
    } as const;
    for (const [key, [status, definition]] of Object.entries(success)) {
      const [method = '', path = ''] = key.split(' ');
      expect(doc.paths[path]?.[method]?.responses[status]?.schema, key).toEqual({
        $ref: `#/definitions/${definition}`,
      });
    }
    expect(doc.paths['/optout']?.post?.responses['202']?.schema).toEqual({
      $ref: '#/definitions/OptOutResult',
    });
    const sms = doc.paths['/sms']?.post?.responses ?? {};
    expect(Object.keys(sms).sort()).toEqual(
      [
        '200',
        '202',
        '400',
        '401',
        '409',
        '413',
        '415',
        '422',
        '429',
        '501',
        '502',
        '503',
        '504',
      ].sort(),
    );
    // What SENDMODE_API_VERSION=v3 does not offer is documented as 501.
    for (const [path, method] of [
      ['/credits', 'get'],
      ['/customers', 'post'],
    ] as const) {
      expect(doc.paths[path]?.[method]?.responses['501']?.description, path).toMatch(/v3/);
    }
    expect(doc.definitions.OptOutResult?.properties.sendmodeOptOutList?.enum).toContain(
      'not-offered',
    );
    for (const { path, method, operation } of operations(doc)) {
      for (const [status, response] of Object.entries(operation.responses)) {
        if (Number(status) >= 400) {
          expect(response.schema, `${method} ${path} ${status}`).toEqual({
            $ref: '#/definitions/Problem',
          });
        }
      }
    }
    expect(doc.definitions.Problem?.required).toEqual(['type', 'title', 'status', 'detail']);
    expect(doc.definitions.OptOutResult?.properties.status?.enum).toEqual(
      expect.arrayContaining(['opted-out', 'already-opted-out', 'queued', 'ignored']),
    );
  });

  it('takes an optional Idempotency-Key header on sends, shown to makers with what to put in it', () => {
    const header = doc.paths['/sms']?.post?.parameters?.find((p) => p.in === 'header');
    expect(header).toMatchObject({
      name: 'Idempotency-Key',
      required: false,
      type: 'string',
      maxLength: MAX_IDEMPOTENCY_KEY_LENGTH,
      'x-ms-summary': expect.any(String),
      // Not under "advanced": a flow without a key can text twice on a retry.
      'x-ms-visibility': 'important',
    });
    // The run id and the item: unique per message, the same on each retry of the action.
    expect(header?.description).toContain("@{workflow().run.name}-@{items('For_each')?['id']}");
  });

  it('carries the validation schemas’ limits and required fields', () => {
    const sms = doc.definitions.SendSmsRequest!;
    expect(sms.required).toEqual(['messagetext', 'recipients']);
    expect(sms.properties.recipients).toMatchObject({
      type: 'array',
      minItems: 1,
      maxItems: MAX_RECIPIENTS,
      items: { type: 'string' },
    });
    expect(MAX_RECIPIENTS).toBe(1000);
    expect(sms.properties.customerid).toMatchObject({ maxLength: MAX_CUSTOMER_ID_LENGTH });
    expect(sms.properties.senderid?.pattern).toEqual(expect.any(String));

    const customer = doc.definitions.Customer!;
    expect(customer.required).toEqual(['group', 'mobilenumber']);
    expect(customer.properties.group).toMatchObject({ type: 'string', maxLength: 100 });
    expect(customer.properties.email).toMatchObject({ format: 'email', maxLength: 254 });
    expect(customer.properties.custom1).toMatchObject({ maxLength: 500 });
    expect(doc.paths['/customers']?.post?.parameters?.[0]?.description).toContain(
      String(MAX_CUSTOMER_BATCH),
    );

    const optOut = doc.definitions.OptOut!;
    expect(optOut.required).toEqual(['mobilenumber']);
    expect(optOut.properties.mobilenumber).toMatchObject({ type: 'string' });
    expect(optOut.properties.optoutresponse).toMatchObject({ maxLength: MAX_REPLY_TEXT_LENGTH });
  });

  it('follows the schemas: a changed limit changes the document', () => {
    const changed = sendSmsSchema.extend({
      recipients: z.array(z.unknown()).min(1).max(7),
      customerid: z.string().max(12).optional(),
      extra: z.string().min(3),
    });
    const schema = swaggerSchema(changed, 'input') as {
      properties: Record<string, Json>;
      required: string[];
    };
    expect(schema.properties.recipients).toMatchObject({ maxItems: 7 });
    expect(schema.properties.customerid).toMatchObject({ maxLength: 12 });
    expect(schema.properties.extra).toMatchObject({ minLength: 3, 'x-ms-visibility': 'important' });
    expect(schema.required).toContain('extra');
    expect(swaggerSchema(sendSmsSchema, 'input')).toEqual(
      expect.objectContaining({ properties: doc.definitions.SendSmsRequest?.properties }),
    );
  });

  it('labels every property for Power Platform, as its definition has it; requests say which matter', () => {
    for (const [name, definition] of Object.entries(full.definitions)) {
      const request = ['SendSmsRequest', 'Customer', 'OptOut', 'OptOutRemoval'].includes(name);
      for (const { path, property, required } of properties(definition)) {
        const where = `${name}.${path.join('.')}`;
        const label = fieldDoc(name, path);
        expect(label, `a label for ${where} in DEFINITION_DOCS or FIELD_DOCS`).toBeDefined();
        expect(property['x-ms-summary'], where).toBe(label?.summary);
        // Described as labelled, unless the zod schema's own .describe() says more (a count named recipients).
        if (label?.description !== undefined) {
          expect(property.description, where).toEqual(expect.any(String));
        }
        if (request) {
          expect(property['x-ms-visibility'], where).toBe(required ? 'important' : 'advanced');
        }
      }
    }
  });

  it('gives a shared name the label right for its definition', () => {
    // (definition, property path) → the label Power Platform shows there.
    const expected: [string, string, string][] = [
      ['Problem', 'status', 'HTTP status'],
      ['Problem', 'type', 'Problem type'],
      ['Problem', 'upstream.status', 'Status'],
      ['SendSmsResult', 'status', 'Status'],
      ['OptOutResult', 'status', 'Status'],
      ['SmsWaiting', 'status', 'Status'],
      ['SmsSent', 'delivery.recipients.status', 'Delivery status'],
      ['SmsDeliveryEvent', 'data.status', 'Delivery status'],
      ['AppStatus', 'at', 'Read at'],
      ['AppStatus', 'recentOptOuts.at', 'At'],
      ['SmsSent', 'delivery.recipients.at', 'Reported at'],
      ['OptOutTrailEntry', 'at', 'At'],
      ['AppStatus', 'queues.name', 'Queue name'],
      ['AppStatus', 'queues.poison.name', 'Poison queue name'],
      ['AppStatus', 'outbox.queue', 'Queue name'],
      ['CustomersQueued', 'queue', 'Queue'],
      ['AppStatus', 'deliveryReports.delivered', 'Sends delivered'],
      ['SmsSent', 'delivery.summary.delivered', 'Delivered'],
      ['AppStatus', 'deliveryReports.expected', 'Reports expected'],
      ['AppStatus', 'recentOptOuts.number', 'Masked number'],
      ['OptOutEntry', 'number', 'Number'],
      ['Subscription', 'id', 'Subscription ID'],
      ['SmsQueued', 'id', 'Send ID'],
      ['OptOutChangedEvent', 'type', 'Event type'],
    ];
    for (const [name, path, summary] of expected) {
      expect(propertyAt(full.definitions[name], path)?.['x-ms-summary'], `${name}.${path}`).toBe(
        summary,
      );
    }
    // And the description with it: a request's rules are not an answer's, a send's status is not a problem's.
    const description = (name: string, path: string) =>
      propertyAt(full.definitions[name], path)?.description;
    expect(description('Problem', 'status')).toMatch(/HTTP status code/);
    expect(description('SendSmsResult', 'status')).toBe('Sendmode’s command status.');
    expect(description('OptOutResult', 'status')).toMatch(/^opted-out, already-opted-out/);
    expect(description('AppStatus', 'at')).not.toMatch(/opt-out/);
    expect(description('SendSmsResult', 'message.recipients')).not.toBe(
      FIELD_DOCS.recipients?.description,
    );
    expect(description('SendSmsRequest', 'recipients')).toBe(FIELD_DOCS.recipients?.description);
    expect(description('SmsSent', 'delivery.summary.delivered')).toMatch(/^Recipients/);
    expect(description('AppStatus', 'deliveryReports.delivered')).toMatch(/sends/);
  });

  it('relabels only properties that exist (a renamed field fails here, not silently)', () => {
    for (const [name, labels] of Object.entries(DEFINITION_DOCS)) {
      expect(full.definitions, name).toHaveProperty([name]);
      for (const path of Object.keys(labels)) {
        expect(propertyAt(full.definitions[name], path), `${name}.${path}`).toBeDefined();
      }
    }
  });

  it('declares every field that may be null (x-nullable), and only those', () => {
    const nullable = Object.entries(full.definitions).flatMap(([name, definition]) =>
      properties(definition)
        .filter(({ property }) => property['x-nullable'] === true)
        .map(({ path }) => `${name}.${path.join('.')}`),
    );
    expect(nullable.sort()).toEqual(
      [
        'AppStatus.limit.nextSlotFreesAt',
        'AppStatus.limit.nextSlotFreesInSeconds',
        'AppStatus.limit.backgroundLinedUpUntil',
        'AppStatus.limit.sendsLinedUpUntil',
        'AppStatus.merging.lastWindow.recipientsPerCall',
        'AppStatus.deliveryReports.warning',
      ].sort(),
    );
    expect(propertyAt(doc.definitions.AppStatus, 'deliveryReports.warning')).toMatchObject({
      type: 'object',
      'x-nullable': true,
    });
    // Generally, whatever the zod schema: a nullable string, object, enum or literal.
    const schema = swaggerSchema(
      z.object({
        text: z.string().nullable(),
        count: z.number().int().nullable().optional(),
        shape: z.object({ a: z.string() }).nullable(),
        choice: z.enum(['x', 'y']).nullable(),
        fixed: z.literal('q').nullable(),
        plain: z.string(),
      }),
      'output',
    ) as { properties: Record<string, Json> };
    expect(schema.properties).toMatchObject({
      text: { type: 'string', 'x-nullable': true },
      count: { type: 'integer', 'x-nullable': true },
      shape: { type: 'object', 'x-nullable': true },
      choice: { type: 'string', enum: ['x', 'y'], 'x-nullable': true },
      fixed: { type: 'string', enum: ['q'], 'x-nullable': true },
    });
    expect(schema.properties.plain).not.toHaveProperty('x-nullable');
  });

  it('stays within what Power Platform takes: no unions, consts, type lists or $schema', () => {
    const text = JSON.stringify(doc);
    for (const keyword of ['"anyOf"', '"oneOf"', '"const"', '"$schema"', '"not"']) {
      expect(text).not.toContain(keyword);
    }
    for (const schema of schemas(doc)) {
      if ('$ref' in schema) continue;
      expect(typeof schema.type, JSON.stringify(schema).slice(0, 120)).toBe('string');
      if (schema.type === 'array') expect(schema.items).toHaveProperty('type');
    }
  });
});

describe('queued sends (Prefer: respond-async) and their status', () => {
  const ref = (name: string) => ({ $ref: `#/definitions/${name}` });
  const header = (operation: Operation | undefined, name: string) =>
    operation?.parameters?.find((p) => p.in === 'header' && p.name === name);
  const sendSms = doc.paths['/sms']?.post;
  const queueSms = doc.paths['/sms/']?.post;
  const byKey = doc.paths['/sms/{id}']?.get;
  const byToken = doc.paths['/sms/{id}/status']?.get;

  it('POST /sms takes an optional Prefer: respond-async and documents the 202 with its headers', () => {
    expect(header(sendSms, 'Prefer')).toMatchObject({
      required: false,
      type: 'string',
      enum: [RESPOND_ASYNC],
    });
    const accepted = sendSms?.responses['202'];
    expect(accepted?.schema).toEqual(ref('SmsQueued'));
    expect(Object.keys(accepted?.headers as Json)).toEqual([
      'Location',
      'Retry-After',
      'Preference-Applied',
    ]);
    expect(doc.definitions.SmsQueued?.required).toEqual([
      'id',
      'status',
      'statusUrl',
      'expectedAt',
    ]);
    expect(doc.definitions.SmsQueued?.properties.status?.enum).toEqual(['queued']);
  });

  it('Queue SMS is Send SMS with Prefer: respond-async fixed, answered 202 + Location, then the outcome', () => {
    expect(queueSms).toMatchObject({ operationId: 'QueueSms', summary: 'Queue SMS' });
    expect(queueSms).not.toHaveProperty('x-ms-visibility');
    // Sent on every call, never shown: a required internal parameter with its default.
    expect(header(queueSms, 'Prefer')).toMatchObject({
      required: true,
      default: RESPOND_ASYNC,
      enum: [RESPOND_ASYNC],
      'x-ms-visibility': 'internal',
    });
    expect(header(queueSms, 'Idempotency-Key')).toEqual(header(sendSms, 'Idempotency-Key'));
    const bodyOf = (operation: Operation | undefined) =>
      operation?.parameters?.find((p) => p.in === 'body');
    expect(bodyOf(queueSms)).toEqual(bodyOf(sendSms));
    expect(bodyOf(queueSms)?.schema).toEqual(ref('SendSmsRequest'));
    expect(queueSms?.responses['202']).toEqual(sendSms?.responses['202']);
    expect(queueSms?.responses['202']?.headers).toHaveProperty('Location');
    expect(queueSms?.responses['200']?.schema).toEqual(ref('SmsSent'));
    expect(Object.keys(queueSms?.responses ?? {}).sort()).toEqual(
      [
        '200',
        '202',
        '400',
        '401',
        '409',
        '413',
        '415',
        '422',
        '429',
        '501',
        '502',
        '503',
        '504',
      ].sort(),
    );
  });

  it('Get SMS Status (key) and the status URL (anonymous) answer every state', () => {
    expect(byKey).toMatchObject({ operationId: 'GetSmsStatus', summary: 'Get SMS Status' });
    expect(byKey?.parameters).toEqual([
      expect.objectContaining({ name: 'id', in: 'path', required: true }),
    ]);
    expect(byToken).toMatchObject({ 'x-ms-visibility': 'internal', security: [] });
    expect(byToken?.parameters?.map((p) => [p.name, p.in, p.required])).toEqual([
      ['id', 'path', true],
      ['token', 'query', true],
    ]);
    const finals = ['400', '404', '422', '429', '501', '502', '503', '504'];
    expect(Object.keys(byKey?.responses ?? {}).sort()).toEqual(
      ['200', '202', '401', ...finals].sort(),
    );
    expect(Object.keys(byToken?.responses ?? {}).sort()).toEqual(['200', '202', ...finals].sort());
    for (const operation of [byKey, byToken]) {
      expect(operation?.responses['200']?.schema).toEqual(ref('SmsSent'));
      expect(operation?.responses['202']?.schema).toEqual(ref('SmsWaiting'));
      expect(operation?.responses['202']?.headers).toHaveProperty('Retry-After');
    }
    // The status URL repeats Location on a 202, so a poller keeps following it.
    expect(byToken?.responses['202']?.headers).toHaveProperty('Location');
    expect(doc.definitions.SmsWaiting?.properties.status?.enum).toEqual([
      'queued',
      'scheduled',
      'sending',
    ]);
    expect(doc.definitions.SmsSent?.required).toEqual(
      expect.arrayContaining(['status', 'statusCode', 'id', 'sentAt']),
    );
  });

  /** A body's fields are documented, and it has every required one. */
  const expectShape = (response: HttpResponseInit, definition: string) => {
    const body = JSON.parse(String(response.body)) as Json;
    const schema = doc.definitions[definition]!;
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(Object.keys(body)));
    expect(Object.keys(body)).toEqual(expect.arrayContaining(schema.required ?? []));
  };
  const headerNames = (response: HttpResponseInit) =>
    Object.keys(response.headers as Record<string, string>);

  it('documents what queueSend and statusResponse answer', async () => {
    const statuses = {
      create: (fields: Omit<SendStatus, 'expiresAt'>) =>
        Promise.resolve({ status: { ...fields, expiresAt: 0 }, etag: '*' }),
      discard: () => Promise.resolve(),
    } as unknown as SendStatusStore;
    const now = Date.parse('2026-12-04T09:00:00Z');
    const queued = await queueSend(
      { messagetext: 'Hello', recipients: ['+353871234567'] },
      'https://example.azurewebsites.net',
      {
        statuses,
        enqueue: () => Promise.resolve(),
        expectedAt: () => Promise.resolve(now + 30_000),
        now: () => now,
      },
    );
    expect(queued.status).toBe(202);
    expectShape(queued, 'SmsQueued');
    const documented = Object.keys(queueSms?.responses['202']?.headers as Json).map((name) =>
      name.toLowerCase(),
    );
    expect(headerNames(queued)).toEqual(expect.arrayContaining(documented));

    const waiting: SendStatus = {
      id: 'abc',
      state: 'queued',
      queuedAt: now,
      expectedAt: now + 30_000,
      lastError: 'Sendmode did not answer in time.',
      expiresAt: now + 86_400_000,
    };
    const answered = statusResponse(
      waiting,
      now,
      'https://example.azurewebsites.net/api/sms/abc/status?token=t',
    );
    expect(answered.status).toBe(202);
    expectShape(answered, 'SmsWaiting');
    expect(headerNames(answered)).toEqual(expect.arrayContaining(['retry-after', 'location']));

    const sentBody = {
      status: 'OK',
      statusCode: 0,
      acceptedDateTime: '2026-12-04T09:00:30Z',
      message: { messagetext: 'Hello', recipients: ['+353871234567'] },
      sms: { encoding: 'GSM-7', parts: 1, characters: 5, replaced: 0 },
      id: 'abc',
      sentAt: '2026-12-04T09:00:30.000Z',
    };
    const sent = statusResponse(
      { ...waiting, state: 'sent', answer: { status: 200, body: JSON.stringify(sentBody) } },
      now,
    );
    expect(sent.status).toBe(200);
    expectShape(sent, 'SmsSent');

    // A send that shared its call (shared/merge/merged-send.ts): what that call carried.
    const mergedBody = { ...sentBody, mergedCall: { sends: 3, recipients: 3 } };
    const merged = statusResponse(
      { ...waiting, state: 'sent', answer: { status: 200, body: JSON.stringify(mergedBody) } },
      now,
    );
    expectShape(merged, 'SmsSent');
    const mergedCall = doc.definitions.SmsSent?.properties.mergedCall as Doc['definitions'][string];
    expect(doc.definitions.SmsSent?.required).not.toContain('mergedCall');
    expect(mergedCall).toMatchObject({ type: 'object', required: ['sends', 'recipients'] });
    expect(mergedCall.properties).toMatchObject({
      sends: { type: 'integer' },
      // A count here, not the numbers: its own description says so.
      recipients: { type: 'integer', description: expect.stringMatching(/^Numbers the one call/) },
    });
  });
});

describe('Get Status’s merged calls', () => {
  it('documents the merging section as appStatus answers it', async () => {
    const settings = parseSettings({ SEND_MERGE_WINDOW_MS: '750' });
    const snapshot: LimitSnapshot = {
      maxCalls: 100,
      windowSeconds: 60,
      interactiveReserve: 20,
      admitted: { interactive: 0, background: 3, total: 3 },
      reservedAhead: 0,
      free: { interactive: 97, background: 77 },
      nextSlotFreesAt: undefined,
      backgroundLinedUpUntil: undefined,
      sendsLinedUpUntil: undefined,
      at: Date.now(),
    };
    const answered = await appStatus({
      settings,
      limiter: {
        snapshot: () => Promise.resolve(snapshot),
        expectedStart: () => Promise.resolve(Date.now()),
      } as unknown as RateLimiter,
      queueDepth: () => Promise.resolve(0),
      pending: {
        callsSince: () =>
          Promise.resolve([
            { at: Date.now(), sends: 2, recipients: 3 },
            { at: Date.now(), sends: 1, recipients: 1 },
          ]),
      } as unknown as PendingSends,
      deliveries: {
        watch: () => Promise.resolve({ watched: 0, reported: 0, delivered: 0 }),
        unmatchedCount: () => Promise.resolve(0),
      } as unknown as DeliveryStore,
    });
    expect(answered.merging).toEqual({
      enabled: true,
      windowMs: 750,
      maxRecipientsPerCall: 1000,
      lastWindow: { calls: 2, sends: 3, recipients: 4, recipientsPerCall: 2, callsSaved: 1 },
    });
    const schema = doc.definitions.AppStatus!;
    expect(schema.required).toContain('merging');
    const merging = schema.properties.merging as Doc['definitions'][string];
    expect(Object.keys(merging.properties).sort()).toEqual(Object.keys(answered.merging).sort());
    expect(merging.required?.sort()).toEqual(Object.keys(answered.merging).sort());
    const lastWindow = merging.properties.lastWindow as Doc['definitions'][string];
    expect(Object.keys(lastWindow.properties).sort()).toEqual(
      Object.keys(answered.merging.lastWindow).sort(),
    );
    expect(merging.properties).toMatchObject({
      enabled: { type: 'boolean' },
      windowMs: { type: 'integer' },
      maxRecipientsPerCall: { type: 'integer' },
    });
    expect(lastWindow.properties).toMatchObject({
      calls: { type: 'integer' },
      sends: { type: 'integer' },
      recipients: { type: 'integer', description: expect.stringMatching(/^Numbers those calls/) },
      recipientsPerCall: { type: 'number' },
      callsSaved: { type: 'integer' },
    });
    // The request's recipients keep their own description (phone numbers).
    expect(doc.definitions.SendSmsRequest?.properties.recipients?.description).toBe(
      FIELD_DOCS.recipients?.description,
    );
  });
});

describe('the routes the app registers', () => {
  const registered: { name: string; route: string; methods: string[]; authLevel?: string }[] = [];

  beforeAll(async () => {
    // Record registrations instead of making them, then load every function module.
    const recorder = app as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const key of Object.keys(app)) {
      if (key === 'hook' || key === 'setup' || typeof recorder[key] !== 'function') continue;
      vi.spyOn(recorder, key).mockImplementation(() => undefined);
    }
    const shorthand: Record<string, string> = {
      get: 'GET',
      put: 'PUT',
      post: 'POST',
      patch: 'PATCH',
      deleteRequest: 'DELETE',
    };
    const record = (name: string, options: unknown, methods?: string[]) => {
      const o = (typeof options === 'function' ? {} : options) as {
        route?: string;
        methods?: string[];
        authLevel?: string;
      };
      registered.push({
        name,
        route: o.route ?? name,
        methods: methods ?? o.methods ?? ['GET', 'POST'],
        authLevel: o.authLevel,
      });
    };
    vi.mocked(recorder.http!).mockImplementation((name, options) => {
      record(name as string, options);
    });
    for (const [key, method] of Object.entries(shorthand)) {
      vi.mocked(recorder[key]!).mockImplementation((name, options) => {
        record(name as string, options, [method]);
      });
    }
    for (const hook of Object.keys(app.hook) as (keyof typeof app.hook)[]) {
      vi.spyOn(app.hook, hook).mockImplementation(() => ({ dispose: () => undefined }) as never);
    }
    const dir = new URL('../functions/', import.meta.url);
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      await import(new URL(file, dir).href);
    }
  });
  afterAll(() => vi.restoreAllMocks());

  it('finds the HTTP functions', () => {
    expect(registered.map((r) => r.name).sort()).toEqual(
      expect.arrayContaining(['send-sms', 'check-credits', 'enqueue-customers', 'health']),
    );
  });

  it('documents every route with exactly its methods (but health and the document itself)', () => {
    const documented = new Map<string, string[]>();
    for (const { path: written, method } of operations(doc)) {
      const path = ALIASES[written] ?? SERVED_BY[written] ?? written;
      const methods = documented.get(path) ?? [];
      // An alias documents a second operation on a method its route has already.
      if (written in ALIASES) {
        expect(methods, `${written} is another ${method} of ${path}`).toContain(
          method.toUpperCase(),
        );
        continue;
      }
      documented.set(path, [...new Set([...methods, method.toUpperCase()])]);
    }
    const routes = new Map<string, string[]>();
    for (const { route, methods, authLevel } of registered) {
      // Admin routes (the master key) are never connector operations: see the next test.
      if (NOT_IN_CONNECTOR.includes(route) || authLevel === 'admin') continue;
      const path = `/${route.replace(/^\/+/, '')}`;
      routes.set(path, [...(routes.get(path) ?? []), ...methods.map((m) => m.toUpperCase())]);
    }
    const sorted = (map: Map<string, string[]>) =>
      Object.fromEntries([...map].map(([path, methods]) => [path, [...methods].sort()]));
    expect(sorted(documented)).toEqual(sorted(routes));
  });

  it('routes Queue SMS’s /sms/ to the send-sms function, as the Functions host does (a trailing slash is ignored)', () => {
    const send = registered.find((r) => r.name === 'send-sms');
    expect(send).toMatchObject({ route: 'sms', methods: ['POST'] });
    for (const [alias, path] of Object.entries(ALIASES)) {
      expect(`${alias.replace(/\/+$/, '')}`).toBe(path);
      const route = compileRoute(`api/${send!.route}`);
      // Split as the host splits a request path: empty segments dropped.
      expect(
        matchRoute(
          route,
          `/api${alias}`.split('/').filter((s) => s !== ''),
        ),
      ).toEqual({});
    }
  });

  it('routes subscribe and each trigger to subscriptions-create, the event from the route, and DELETE to subscriptions-delete', () => {
    const create = registered.find((r) => r.name === 'subscriptions-create');
    const remove = registered.find((r) => r.name === 'subscriptions-delete');
    expect(create).toMatchObject({ route: 'subscriptions/{event?}', methods: ['POST'] });
    expect(remove).toMatchObject({ route: 'subscriptions/{id}', methods: ['DELETE'] });
    expect(new Set(Object.values(SERVED_BY))).toEqual(new Set([`/${create!.route}`]));
    const route = compileRoute(`api/${create!.route}`);
    const segments = (path: string) => `/api${path}`.split('/').filter((s) => s !== '');
    expect(matchRoute(route, segments('/subscriptions'))).toEqual({});
    for (const type of EVENT_TYPE_NAMES) {
      const path = `/subscriptions/${EVENT_TYPES[type].trigger.path}`;
      expect(SERVED_BY, path).toHaveProperty([path]);
      expect(matchRoute(route, segments(path))).toEqual({ event: EVENT_TYPES[type].trigger.path });
    }
  });

  it('documents the admin routes only in the admin document, each with the master-key security', () => {
    const admin = registered.filter((r) => r.authLevel === 'admin');
    expect(admin.map((r) => r.route).sort()).toEqual([
      'optouts',
      'optouts/{number}',
      'optouts/{number}',
    ]);
    expect(full.securityDefinitions).toHaveProperty('admin_key');
    for (const { route, methods } of admin) {
      const path = `/${route}`;
      for (const method of methods) {
        // Not in the public document (a path may hold a public operation of another method).
        expect(
          (doc.paths[path] as Record<string, unknown> | undefined)?.[method.toLowerCase()],
          `${method} ${path}`,
        ).toBeUndefined();
        const operation = (full.paths[path] as Record<string, Operation & { security?: unknown }>)[
          method.toLowerCase()
        ];
        expect(operation, `${method} ${path}`).toBeDefined();
        expect(operation?.security).toEqual([{ admin_key: [] }]);
      }
    }
  });

  it('serves the document anonymously at GET /api/openapi.json, for the host it is called on', async () => {
    const served = registered.find((r) => r.route === 'openapi.json');
    expect(served).toMatchObject({ methods: ['GET'], authLevel: 'anonymous' });
    const { openApi } = await import('../functions/openapi.js');
    const call = async (url: string, host?: string) => {
      const request = new HttpRequest({
        method: 'GET',
        url,
        headers: host !== undefined ? { host } : {},
      });
      const response: HttpResponseInit = await openApi(request, testContext('openapi'));
      return { response, body: JSON.parse(String(response.body)) as Doc };
    };

    const deployed = await call(
      'https://sendmode-prod.azurewebsites.net/api/openapi.json',
      'sendmode-prod.azurewebsites.net',
    );
    expect(deployed.response.status).toBe(200);
    expect(deployed.response.headers).toMatchObject({ 'content-type': 'application/json' });
    expect(deployed.body).toEqual(buildOpenApi({ host: 'sendmode-prod.azurewebsites.net' }));
    await expect(SwaggerParser.validate(deployed.body as never)).resolves.toBeTruthy();

    const local = await call('http://localhost:7071/api/openapi.json', 'localhost:7071');
    expect(local.body).toMatchObject({ host: 'localhost:7071', schemes: ['http'] });

    const odd = await call('https://x.example/api/openapi.json', 'bad host/with path');
    expect(odd.response.status).toBe(200);
    expect(odd.body).not.toHaveProperty('host');
    expect(odd.body.schemes).toEqual(['https']);
  });
});

describe('webhook subscriptions: the connector’s triggers', () => {
  const ref = (name: string) => ({ $ref: `#/definitions/${name}` });
  type Path = Record<string, Operation & Json>;

  it('has one webhook trigger per event type: x-ms-trigger, the callback URL as x-ms-notification-url, the event as its outputs', () => {
    expect(EVENT_TYPE_NAMES).toEqual(['optout.changed', 'sms.delivery']);
    const trigger = doc.definitions.TriggerSubscription!;
    expect(trigger.required).toEqual(['callbackUrl']);
    expect(Object.keys(trigger.properties)).toEqual(['callbackUrl']);
    expect(trigger.properties.callbackUrl).toMatchObject({
      type: 'string',
      'x-ms-notification-url': true,
      'x-ms-visibility': 'internal',
    });
    for (const type of EVENT_TYPE_NAMES) {
      const { path, operationId, definition } = EVENT_TYPES[type].trigger;
      const item = doc.paths[`/subscriptions/${path}`] as unknown as Path;
      const post = item.post!;
      expect(post, type).toMatchObject({ operationId, 'x-ms-trigger': 'single' });
      expect(post).not.toHaveProperty('x-ms-visibility');
      expect(post.parameters).toEqual([
        expect.objectContaining({ in: 'body', required: true, schema: ref('TriggerSubscription') }),
      ]);
      // The platform shows the trigger's outputs from its response schema: the event's body.
      expect(post.responses['201']?.schema).toEqual(ref(definition));
      expect(post.responses['201']?.headers).toHaveProperty('Location');
      expect(item['x-ms-notification-content']).toMatchObject({ schema: ref(definition) });
      const event = doc.definitions[definition]!;
      expect(event.required).toEqual(['type', 'timestamp', 'data']);
      expect(event.properties.type?.enum).toEqual([type]);
      const data = event.properties.data as Doc['definitions'][string];
      expect(Object.keys(data.properties).sort()).toEqual(
        Object.keys(EVENT_TYPES[type].data.shape).sort(),
      );
    }
    const optOut = doc.definitions.OptOutChangedEvent!.properties
      .data as Doc['definitions'][string];
    expect(optOut.properties.action?.enum).toEqual(['opt-out', 'opt-in', 'removal']);
    expect(optOut.properties.source?.enum).toEqual(['webhook', 'api', 'manual', 'sendmode']);
  });

  it('subscribes and unsubscribes with internal operations: POST /subscriptions and DELETE its Location', () => {
    const create = doc.paths['/subscriptions']?.post;
    expect(create).toMatchObject({
      operationId: 'CreateSubscription',
      'x-ms-visibility': 'internal',
    });
    expect(create?.responses['201']).toMatchObject({
      schema: ref('Subscription'),
      headers: { Location: expect.any(Object) },
    });
    expect(create?.responses['422']?.schema).toEqual(ref('Problem'));
    const request = doc.definitions.SubscriptionRequest!;
    expect(request.required).toEqual(['callbackUrl']);
    expect(request.properties.events).toMatchObject({
      type: 'array',
      items: { type: 'string', enum: EVENT_TYPE_NAMES },
    });
    expect(doc.definitions.Subscription?.required).toEqual([
      'id',
      'callbackUrl',
      'events',
      'secret',
    ]);
    const remove = doc.paths['/subscriptions/{id}']?.delete;
    expect(remove).toMatchObject({
      operationId: 'DeleteSubscription',
      'x-ms-visibility': 'internal',
    });
    expect(Object.keys(remove?.responses ?? {}).sort()).toEqual(['204', '401', '404', '503']);
  });

  it('names the new operations in PascalCase, with descriptions that end in a full stop', () => {
    const paths = Object.keys(doc.paths).filter((path) => path.startsWith('/subscriptions'));
    expect(paths.sort()).toEqual(
      [
        '/subscriptions',
        '/subscriptions/{id}',
        ...EVENT_TYPE_NAMES.map((t) => `/subscriptions/${EVENT_TYPES[t].trigger.path}`),
      ].sort(),
    );
    for (const path of paths) {
      for (const { operation } of operations({ ...doc, paths: { [path]: doc.paths[path]! } })) {
        expect(operation.operationId).toMatch(/^(?:[A-Z][a-z]*|SMS|Sms)+$/);
        expect(operation.summary.length).toBeGreaterThan(0);
        expect(operation.description, operation.operationId).toMatch(/\.$/);
      }
    }
  });
});

describe('the checked-in connector (paconn)', () => {
  it('apiDefinition.swagger.json is the generated document (run `npm run connector` after a change)', async () => {
    const checkedIn = JSON.parse(readFileSync(API_DEFINITION_PATH, 'utf8')) as Doc;
    const fresh = connectorDefinition();
    expect(
      checkedIn,
      'connector/apiDefinition.swagger.json is stale: run `npm run connector`',
    ).toEqual(fresh);
    expect(checkedIn.host).toBe(CONNECTOR_HOST);
    await expect(SwaggerParser.validate(checkedIn as never)).resolves.toBeTruthy();
  });

  it('apiProperties.json is the generated connection (run `npm run connector` after a change)', () => {
    const checkedIn = JSON.parse(readFileSync(API_PROPERTIES_PATH, 'utf8')) as unknown;
    expect(checkedIn, 'connector/apiProperties.json is stale: run `npm run connector`').toEqual(
      connectorProperties(),
    );
  });

  it('apiProperties.json asks for the app’s host and the function key, and sends each call to that host', () => {
    const properties = JSON.parse(readFileSync(API_PROPERTIES_PATH, 'utf8')) as {
      properties: {
        connectionParameters: Record<string, { type: string; uiDefinition: Json }>;
        iconBrandColor: string;
        capabilities: unknown[];
        publisher: string;
        stackOwner: string;
        policyTemplateInstances: Json[];
      };
    };
    const { connectionParameters, iconBrandColor, capabilities, publisher, stackOwner } =
      properties.properties;
    expect(Object.keys(doc.securityDefinitions)).toEqual(['api_key']);
    expect(Object.keys(connectionParameters)).toEqual([HOST_PARAMETER, 'api_key']);
    expect(connectionParameters[HOST_PARAMETER]).toMatchObject({
      type: 'string',
      uiDefinition: {
        displayName: 'Function app host',
        tooltip: 'your-app.azurewebsites.net',
        constraints: { required: 'true' },
      },
    });
    expect(connectionParameters.api_key).toMatchObject({
      type: 'securestring',
      uiDefinition: { displayName: 'Function key', constraints: { required: 'true' } },
    });
    // One connector for every deployment: the host comes from the connection, /api kept.
    expect(properties.properties.policyTemplateInstances).toEqual([
      {
        templateId: 'dynamichosturl',
        title: 'Set the host from the connection',
        parameters: {
          'x-ms-apimTemplateParameter.urlTemplate': `https://@connectionParameters('hostUrl')${doc.basePath}`,
        },
      },
    ]);
    expect(doc.basePath).toBe('/api');
    expect(iconBrandColor).toMatch(/^#[0-9a-fA-F]{6}$/);
    expect(capabilities).toEqual([]);
    expect(publisher).toEqual(expect.any(String));
    expect(stackOwner).toEqual(expect.any(String));
  });
});
