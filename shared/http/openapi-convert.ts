/**
 * zod schemas as Swagger 2.0 (OpenAPI 2.0) Schema Objects and parameters, fit for Power Platform:
 * `z.toJSONSchema` (draft-04, the dialect Swagger 2.0 builds on), then made into what Swagger 2.0
 * takes and labelled from openapi-labels.ts.
 */
import * as z from 'zod';

import { type FieldDoc, fieldDoc } from './openapi-labels.js';

export type Schema = Record<string, unknown>;

/** The keywords a Swagger 2.0 Schema Object may carry (besides `x-` extensions). */
const SWAGGER_KEYWORDS = new Set([
  '$ref',
  'format',
  'title',
  'description',
  'default',
  'multipleOf',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'uniqueItems',
  'maxProperties',
  'minProperties',
  'required',
  'enum',
  'additionalProperties',
  'type',
  'items',
  'allOf',
  'properties',
  'readOnly',
  'example',
]);

const isRecord = (value: unknown): value is Schema =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * One JSON Schema (draft-04, the dialect Swagger 2.0 builds on) made fit for Power Platform:
 * - a union (`anyOf`/`oneOf`, or a list of types) becomes its first non-null member: every
 *   union the schemas use accepts a string first (e.g. a number given as digits); one that
 *   takes null (`.nullable()`) says so with `x-nullable: true`, which Swagger 2.0 lacks and
 *   Power Platform reads, so a flow is not failed by a null the answer documents;
 * - `const` becomes a one-value `enum`; an untyped value (`z.unknown()`, used where each item
 *   is checked and named by index, as recipients are) is documented as the string it must be;
 * - the ±2^53 bounds zod puts on integers, the pattern zod puts beside `format: email` and
 *   `additionalProperties: false` (unknown fields are ignored) are dropped, and so is anything
 *   Swagger 2.0 does not know;
 * - properties get `x-ms-summary` and a description from their definition's labels
 *   (DEFINITION_DOCS) or else FIELD_DOCS (a description the zod schema gives, `.describe()`,
 *   wins), and in requests `x-ms-visibility`: `important` when required, `advanced` when optional.
 * `definition` names the definition being converted and `path` the property's place in it.
 */
function toSwagger(
  node: Schema,
  request: boolean,
  definition?: string,
  path: string[] = [],
): Schema {
  let schema: Schema = { ...node };
  let nullable = Array.isArray(schema.enum) && schema.enum.includes(null);
  for (const key of ['anyOf', 'oneOf'] as const) {
    const members = schema[key];
    if (Array.isArray(members)) {
      nullable ||= (members as Schema[]).some((member) => member.type === 'null');
      const chosen = (members as Schema[]).find((member) => member.type !== 'null') ?? {};
      delete schema[key];
      schema = { ...chosen, ...schema };
    }
  }
  if (Array.isArray(schema.type)) {
    nullable ||= (schema.type as string[]).includes('null');
    schema.type = (schema.type as string[]).find((type) => type !== 'null') ?? 'string';
  }
  if (nullable) {
    schema['x-nullable'] = true;
    if (Array.isArray(schema.enum)) schema.enum = schema.enum.filter((value) => value !== null);
  }
  if ('const' in schema) {
    schema.enum = [schema.const];
    schema.type ??= typeof schema.const;
  }
  if (schema.type === undefined && schema.$ref === undefined && schema.enum === undefined) {
    schema.type = 'string';
  }
  if (schema.type === 'integer') {
    if (schema.minimum === Number.MIN_SAFE_INTEGER) delete schema.minimum;
    if (schema.maximum === Number.MAX_SAFE_INTEGER) delete schema.maximum;
  }
  if (schema.format === 'email') delete schema.pattern;
  // Unknown fields are ignored in requests, and answers may carry more than documented.
  if (schema.additionalProperties === false) delete schema.additionalProperties;

  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (SWAGGER_KEYWORDS.has(key) || key.startsWith('x-')) out[key] = value;
  }
  // An array's items and a map's values sit at the array's (the map's) own path.
  if (isRecord(out.items)) out.items = toSwagger(out.items, request, definition, path);
  if (isRecord(out.additionalProperties)) {
    out.additionalProperties = toSwagger(out.additionalProperties, request, definition, path);
  }
  if (isRecord(out.properties)) {
    const required = new Set(Array.isArray(out.required) ? (out.required as string[]) : []);
    const properties: Schema = {};
    for (const [name, value] of Object.entries(out.properties)) {
      const doc = fieldDoc(definition, [...path, name]);
      const property = toSwagger(value as Schema, request, definition, [...path, name]);
      if (request && doc?.format !== undefined) property.format = doc.format;
      // A name used for two things (recipients: numbers, or a count) may say so in the schema.
      const own = typeof property.description === 'string';
      properties[name] = {
        ...property,
        ...(!own && doc?.description !== undefined ? { description: doc.description } : {}),
        'x-ms-summary': doc?.summary ?? name,
        ...(request ? { 'x-ms-visibility': required.has(name) ? 'important' : 'advanced' } : {}),
      };
    }
    out.properties = properties;
    if (required.size === 0) delete out.required;
  }
  return out;
}

/**
 * A zod schema as a Swagger 2.0 Schema Object: `input` for a request body, `output` for an
 * answer; labelled as the definition `name` labels its properties, when given.
 */
export function swaggerSchema(schema: z.ZodType, io: 'input' | 'output', name?: string): Schema {
  const json = z.toJSONSchema(schema, { io, target: 'draft-04' }) as Schema;
  return toSwagger(json, io === 'input', name);
}

/** The definition `name`: its schema, labelled, and what it is. */
export function definition(
  name: string,
  schema: z.ZodType,
  io: 'input' | 'output',
  description: string,
): Schema {
  return { ...swaggerSchema(schema, io, name), description };
}

/** Definitions by name: each its schema, input or output, and what it is. */
export type DefinitionTable = Record<string, [z.ZodType, 'input' | 'output', string]>;

export function definitions(table: DefinitionTable): Record<string, Schema> {
  return Object.fromEntries(
    Object.entries(table).map(([name, [schema, io, description]]) => [
      name,
      definition(name, schema, io, description),
    ]),
  );
}

/** An object schema's properties as query parameters (Swagger 2.0 query parameters take no schema). */
export function queryParameters(schema: z.ZodType, name: string): Schema[] {
  const { properties = {}, required = [] } = swaggerSchema(schema, 'input', name) as {
    properties?: Record<string, Schema>;
    required?: string[];
  };
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: 'query',
    required: required.includes(name),
    ...property,
  }));
}

/** What a query or path parameter takes from its schema, in this order. */
const PARAMETER_KEYWORDS = [
  'type',
  'format',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'pattern',
  'enum',
  'default',
] as const;

/**
 * An object schema's properties as parameters `in` the query or the path: type, bounds, values
 * and default from the schema (in a fixed order), the label and description from `labels`, by
 * property name (a label's `format` is one the validation checks in code).
 */
export function routeParameters(
  schema: z.ZodType,
  where: 'query' | 'path',
  labels: Record<string, FieldDoc>,
): Schema[] {
  const json = z.toJSONSchema(schema, { io: 'input', target: 'draft-04' }) as Schema;
  const { properties = {}, required = [] } = toSwagger(json, false) as {
    properties?: Record<string, Schema>;
    required?: string[];
  };
  return Object.entries(properties).map(([name, property]) => {
    const label = labels[name];
    if (label === undefined) throw new Error(`No label for the ${where} parameter ${name}.`);
    const typed: Schema = { ...property, ...(label.format ? { format: label.format } : {}) };
    return {
      name,
      in: where,
      required: required.includes(name),
      ...Object.fromEntries(
        PARAMETER_KEYWORDS.filter((key) => typed[key] !== undefined).map((key) => [
          key,
          typed[key],
        ]),
      ),
      ...(label.description !== undefined ? { description: label.description } : {}),
      'x-ms-summary': label.summary,
    };
  });
}

/** routeParameters, as the document hands it to the modules that add operations. */
export type RouteParameters = typeof routeParameters;
