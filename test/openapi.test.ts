/**
 * The custom connector definition: valid Swagger 2.0, in step with the routes the app
 * registers and with the zod schemas that validate requests, served at /api/openapi.json, and
 * checked in as connector/apiDefinition.swagger.json without drifting.
 */
import { readdirSync, readFileSync } from 'node:fs';
import SwaggerParser from '@apidevtools/swagger-parser';
import { app, HttpRequest, type HttpResponseInit } from '@azure/functions';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  API_DEFINITION_PATH,
  API_PROPERTIES_PATH,
  CONNECTOR_HOST,
  connectorDefinition,
} from '../scripts/generate-connector.js';
import { MAX_IDEMPOTENCY_KEY_LENGTH } from '../shared/http/idempotency-key.js';
import {
  API_TITLE,
  API_VERSION,
  buildOpenApi,
  FIELD_DOCS,
  FUNCTION_KEY_HEADER,
  swaggerSchema,
} from '../shared/http/openapi.js';
import { MAX_CUSTOMER_BATCH } from '../shared/schemas/customer.js';
import { MAX_REPLY_TEXT_LENGTH } from '../shared/schemas/opt-out.js';
import {
  MAX_CUSTOMER_ID_LENGTH,
  MAX_RECIPIENTS,
  sendSmsSchema,
} from '../shared/schemas/send-sms.js';
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
  { path: '/optout', method: 'post', operationId: 'Optout_Customer', summary: 'Optout Customer' },
];
/** Operations this app adds to the original connector's. */
const ADDED_OPERATIONS = [
  { path: '/status', method: 'get', operationId: 'Get_Status', summary: 'Get Status' },
];

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
    for (const { path, method, operationId, summary } of ORIGINAL_OPERATIONS) {
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
      ['200', '400', '401', '409', '413', '415', '422', '429', '501', '502', '503', '504'].sort(),
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

  it('takes an optional Idempotency-Key header on sends', () => {
    const header = doc.paths['/sms']?.post?.parameters?.find((p) => p.in === 'header');
    expect(header).toMatchObject({
      name: 'Idempotency-Key',
      required: false,
      type: 'string',
      maxLength: MAX_IDEMPOTENCY_KEY_LENGTH,
      'x-ms-summary': expect.any(String),
    });
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

  it('labels every property for Power Platform; requests say which matter', () => {
    for (const [name, definition] of Object.entries(doc.definitions)) {
      const request = ['SendSmsRequest', 'Customer', 'OptOut'].includes(name);
      const walk = (schema: Json & { properties?: Record<string, Json>; required?: string[] }) => {
        for (const [field, property] of Object.entries(schema.properties ?? {})) {
          expect(FIELD_DOCS, `a label for ${name}.${field} in FIELD_DOCS`).toHaveProperty(field);
          expect(property['x-ms-summary'], `${name}.${field}`).toBe(FIELD_DOCS[field]?.summary);
          if (request) {
            expect(property['x-ms-visibility'], `${name}.${field}`).toBe(
              schema.required?.includes(field) ? 'important' : 'advanced',
            );
          }
          walk(property);
          if (property.items) walk(property.items as Json);
        }
      };
      walk(definition);
    }
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
    for (const { path, method } of operations(doc)) {
      documented.set(path, [...(documented.get(path) ?? []), method.toUpperCase()]);
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

  it('documents the admin routes only in the admin document, each with the master-key security', () => {
    const admin = registered.filter((r) => r.authLevel === 'admin');
    expect(admin.map((r) => r.route).sort()).toEqual([
      'optouts',
      'optouts/{number}',
      'optouts/{number}',
    ]);
    const full = buildOpenApi({ admin: true }) as Doc & {
      securityDefinitions: Record<string, unknown>;
    };
    expect(full.securityDefinitions).toHaveProperty('admin_key');
    for (const { route, methods } of admin) {
      const path = `/${route}`;
      expect(Object.keys(doc.paths), path).not.toContain(path);
      for (const method of methods) {
        const operation = (full.paths[path] as Record<string, Operation & { security?: unknown }>)[
          method.toLowerCase()
        ];
        expect(operation, `${method} ${path}`).toBeDefined();
        expect(operation?.security).toEqual([{ admin_key: [] }]);
      }
    }
    // Every property of the admin definitions has a label too.
    for (const [name, schema] of Object.entries(full.definitions)) {
      for (const field of Object.keys((schema as { properties?: object }).properties ?? {})) {
        expect(FIELD_DOCS, `a label for ${name}.${field}`).toHaveProperty(field);
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

  it('apiProperties.json asks for the function key the security definition sends', () => {
    const properties = JSON.parse(readFileSync(API_PROPERTIES_PATH, 'utf8')) as {
      properties: {
        connectionParameters: Record<string, { type: string; uiDefinition: Json }>;
        iconBrandColor: string;
        capabilities: unknown[];
        publisher: string;
        stackOwner: string;
      };
    };
    const { connectionParameters, iconBrandColor, capabilities, publisher, stackOwner } =
      properties.properties;
    expect(Object.keys(doc.securityDefinitions)).toEqual(['api_key']);
    expect(connectionParameters.api_key).toMatchObject({
      type: 'securestring',
      uiDefinition: { displayName: 'Function key', constraints: { required: 'true' } },
    });
    expect(iconBrandColor).toMatch(/^#[0-9a-fA-F]{6}$/);
    expect(capabilities).toEqual([]);
    expect(publisher).toEqual(expect.any(String));
    expect(stackOwner).toEqual(expect.any(String));
  });
});
