/**
 * connector/apiDefinition.swagger.json and connector/apiProperties.json against Power Platform's
 * documented rules for custom connectors, so what the platform would refuse, or show makers
 * badly, fails here rather than at `paconn create`. Each rule says where it is written:
 *
 * - [define] Create a custom connector from an OpenAPI definition:
 *   https://learn.microsoft.com/connectors/custom-connectors/define-openapi-definition
 * - [extensions] Create a custom connector with an OpenAPI extension:
 *   https://learn.microsoft.com/connectors/custom-connectors/openapi-extensions
 * - [strings] Learn best practices for string fields:
 *   https://learn.microsoft.com/connectors/custom-connectors/connector-string-guidance
 * - [certification] Prepare Power Platform connector files for certification:
 *   https://learn.microsoft.com/connectors/custom-connectors/certification-submission
 * - [policy] Set host URL (template dynamichosturl):
 *   https://learn.microsoft.com/connectors/custom-connectors/policy-templates/dynamichosturl/dynamichosturl
 * - [webhook] Use a webhook as a trigger:
 *   https://learn.microsoft.com/connectors/custom-connectors/create-webhook-trigger
 * - [paconn] Create a custom connector with the CLI (the API properties file):
 *   https://learn.microsoft.com/connectors/custom-connectors/paconn-cli
 * - [swagger] OpenAPI 2.0, Data Types: https://swagger.io/specification/v2/#data-types
 * - [template] The certified connector template and pull-request checklist:
 *   https://github.com/microsoft/PowerPlatformConnectors/tree/dev/templates/certified-connectors
 *
 * A rule is a function from the two files to the violations it finds. Each is run on the
 * checked-in files (none found) and on copies broken on purpose (each break found), so no rule
 * can pass by checking nothing.
 */
import { readFileSync } from 'node:fs';

import SwaggerParser from '@apidevtools/swagger-parser';
import { describe, expect, it } from 'vitest';

import { API_DEFINITION_PATH, API_PROPERTIES_PATH } from '../scripts/generate-connector.js';

type Json = Record<string, unknown>;

interface Files {
  definition: Json;
  properties: Json;
}

const checkedIn = (): Files => ({
  definition: JSON.parse(readFileSync(API_DEFINITION_PATH, 'utf8')) as Json,
  properties: JSON.parse(readFileSync(API_PROPERTIES_PATH, 'utf8')) as Json,
});

const isRecord = (value: unknown): value is Json =>
  value !== null && typeof value === 'object' && !Array.isArray(value);
const record = (value: unknown): Json => (isRecord(value) ? value : {});
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/* ------------------------------ walking the definition ------------------------------ */

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch'];

interface Operation {
  where: string;
  path: string;
  method: string;
  operation: Json;
}

function operations(definition: Json): Operation[] {
  return Object.entries(record(definition.paths)).flatMap(([path, item]) =>
    Object.entries(record(item))
      .filter(([method]) => METHODS.includes(method))
      .map(([method, operation]) => ({
        where: `${method} ${path}`,
        path,
        method,
        operation: record(operation),
      })),
  );
}

const parametersOf = (operation: Json) => list(operation.parameters).map(record);

/** Every schema object: definitions, parameter and response schemas, and all they contain. */
function schemas(definition: Json): { where: string; schema: Json }[] {
  const found: { where: string; schema: Json }[] = [];
  const visit = (schema: unknown, where: string) => {
    if (!isRecord(schema)) return;
    found.push({ where, schema });
    for (const [name, property] of Object.entries(record(schema.properties))) {
      visit(property, `${where}.${name}`);
    }
    visit(schema.items, `${where}[]`);
    visit(schema.additionalProperties, `${where}{}`);
    list(schema.allOf).forEach((member, i) => visit(member, `${where}.allOf[${i}]`));
  };
  for (const [name, schema] of Object.entries(record(definition.definitions))) {
    visit(schema, `definitions.${name}`);
  }
  for (const { where, operation } of operations(definition)) {
    for (const parameter of parametersOf(operation)) {
      visit(parameter.schema, `${where} parameter ${String(parameter.name)}`);
    }
    for (const [status, response] of Object.entries(record(operation.responses))) {
      visit(record(response).schema, `${where} ${status}`);
    }
  }
  return found;
}

/** Every string under `key` anywhere in a JSON value, with where it is. */
function stringsAt(node: unknown, key: string, where = ''): { where: string; text: string }[] {
  if (Array.isArray(node)) return node.flatMap((item, i) => stringsAt(item, key, `${where}[${i}]`));
  if (!isRecord(node)) return [];
  return Object.entries(node).flatMap(([name, value]) => [
    ...(name === key && typeof value === 'string' ? [{ where, text: value }] : []),
    ...stringsAt(value, key, where === '' ? name : `${where}.${name}`),
  ]);
}

function resolve(definition: Json, schema: unknown): Json {
  const ref = record(schema).$ref;
  if (typeof ref !== 'string') return record(schema);
  return record(record(definition.definitions)[ref.replace('#/definitions/', '')]);
}

const connectionParameters = (properties: Json) =>
  record(record(properties.properties).connectionParameters);
const policies = (properties: Json) =>
  list(record(properties.properties).policyTemplateInstances).map(record);
const metadata = (definition: Json) =>
  new Map(
    list(definition['x-ms-connector-metadata'])
      .map(record)
      .map((entry) => [entry.propertyName, entry.propertyValue]),
  );

/* ------------------------------ the rules ------------------------------ */

/** The Sendmode connector's original operation ids, kept so flows built on it map one to one. */
const ORIGINAL_IDS = new Set(['Send_SMS', 'Check_Credits', 'Import_Customer', 'Optout_Customer']);

/** The formats [swagger] defines, with email and uri, by the type each goes with. */
const FORMATS: Record<string, string[]> = {
  integer: ['int32', 'int64'],
  number: ['float', 'double'],
  string: ['byte', 'binary', 'date', 'date-time', 'password', 'email', 'uri'],
};

/** The categories [certification] lists for x-ms-connector-metadata. */
const CATEGORIES = new Set([
  'AI',
  'Business Management',
  'Business Intelligence',
  'Collaboration',
  'Commerce',
  'Communication',
  'Content and Files',
  'Finance',
  'Data',
  'Human Resources',
  'Internet of Things',
  'IT Operations',
  'Lifestyle and Entertainment',
  'Marketing',
  'Productivity',
  'Sales and CRM',
  'Security',
  'Social Media',
  'Website',
]);

const VISIBILITY = new Set(['important', 'advanced', 'internal']);

/** An expression's references to connection parameters: @connectionParameters('name'). */
const CONNECTION_REFERENCE = /@connectionParameters\('([^']+)'\)/g;

interface Rule {
  rule: string;
  source: string;
  check(files: Files): string[];
  /** Ways to break the files, each of which the rule must report. */
  breaks: Record<string, (files: Files) => void>;
}

const op = (files: Files, path: string, method: string) =>
  record(record(record(files.definition.paths)[path])[method]);
const def = (files: Files, name: string) => record(record(files.definition.definitions)[name]);
const prop = (files: Files, name: string, property: string) =>
  record(record(def(files, name).properties)[property]);

const RULES: Rule[] = [
  {
    rule: 'the definition is Swagger (OpenAPI) 2.0',
    source: '[define]',
    check: ({ definition }) =>
      definition.swagger === '2.0' ? [] : [`swagger is ${String(definition.swagger)}`],
    breaks: { 'OpenAPI 3': (files) => (files.definition.swagger = '3.0.0') },
  },
  {
    rule: 'the definition is under 1 MB',
    source: '[define]',
    check: ({ definition }) => {
      const bytes = Buffer.byteLength(JSON.stringify(definition));
      return bytes < 1024 * 1024 ? [] : [`${bytes} bytes`];
    },
    breaks: {
      'a huge description': (files) =>
        (record(files.definition.info).description = 'x'.repeat(1024 * 1024) + '.'),
    },
  },
  {
    rule: 'the title has at most 30 characters and neither "API" nor "Connector"; the description 30 to 500 characters, without "API"',
    source: '[strings], [certification]',
    check: ({ definition }) => {
      const { title, description } = record(definition.info);
      const problems: string[] = [];
      if (typeof title !== 'string' || title.length === 0 || title.length > 30) {
        problems.push(`title ${JSON.stringify(title)}`);
      } else if (/\b(?:api|connector)\b/i.test(title)) problems.push(`title ${title}`);
      if (typeof description !== 'string' || description.length < 30 || description.length > 500) {
        problems.push('description length');
      } else if (/\bAPI\b/.test(description)) problems.push('description says API');
      return problems;
    },
    breaks: {
      'API in the title': (files) => (record(files.definition.info).title = 'Sendmode API'),
      'API in the description': (files) =>
        (record(files.definition.info).description = 'Sends SMS within the Sendmode API limit.'),
    },
  },
  {
    rule: 'every operation has a summary, a description and an operationId',
    source: '[extensions], [strings]',
    check: ({ definition }) =>
      operations(definition).flatMap(({ where, operation }) =>
        ['summary', 'description', 'operationId']
          .filter((key) => typeof operation[key] !== 'string' || operation[key] === '')
          .map((key) => `${where}: no ${key}`),
      ),
    breaks: {
      'no summary': (files) => delete op(files, '/sms', 'post').summary,
      'no description': (files) => delete op(files, '/credits', 'get').description,
    },
  },
  {
    rule: 'operation ids are unique, and PascalCase (letters and digits only) but for the original four',
    source: '[strings]',
    check: ({ definition }) => {
      const ids = operations(definition).map(({ operation }) => String(operation.operationId));
      return [
        ...ids.filter((id, i) => ids.indexOf(id) !== i).map((id) => `${id} twice`),
        ...ids
          .filter((id) => !ORIGINAL_IDS.has(id) && !/^[A-Z][A-Za-z0-9]*$/.test(id))
          .map((id) => `${id} is not PascalCase`),
      ];
    },
    breaks: {
      'an underscore': (files) => (op(files, '/status', 'get').operationId = 'Get_Status'),
      'a duplicate': (files) => (op(files, '/status', 'get').operationId = 'GetSmsStatus'),
    },
  },
  {
    rule: 'summaries have at most 80 characters, no slash, and end in a letter or digit (no full stop)',
    source: '[strings]',
    check: ({ definition }) =>
      operations(definition).flatMap(({ where, operation }) => {
        const summary = String(operation.summary);
        return summary.length <= 80 && !summary.includes('/') && /[A-Za-z0-9]$/.test(summary)
          ? []
          : [`${where}: ${summary}`];
      }),
    breaks: {
      'a full stop': (files) => (op(files, '/sms', 'post').summary = 'Send SMS.'),
      'a slash': (files) => (op(files, '/credits', 'get').summary = 'Check/show credits'),
      'too long': (files) => (op(files, '/credits', 'get').summary = 'Check '.repeat(20).trim()),
    },
  },
  {
    rule: 'descriptions (of operations, parameters, responses, headers and properties) end in a full stop',
    source: '[strings], [certification]',
    check: ({ definition }) =>
      stringsAt(definition, 'description')
        .filter(({ text }) => !/\.$/.test(text.trim()))
        .map(({ where, text }) => `${where}: ${text.slice(-40)}`),
    breaks: {
      'an operation': (files) => (op(files, '/sms', 'post').description = 'Send an SMS'),
      'a property': (files) => (prop(files, 'Problem', 'status').description = 'HTTP status'),
    },
  },
  {
    rule: 'every parameter (but a body, whose schema is labelled) and every schema property has an x-ms-summary of at most 80 characters',
    source: '[extensions], [strings]',
    check: ({ definition }) => {
      const label = (where: string, node: Json) =>
        typeof node['x-ms-summary'] === 'string' &&
        node['x-ms-summary'] !== '' &&
        node['x-ms-summary'].length <= 80
          ? []
          : [`${where}: x-ms-summary ${JSON.stringify(node['x-ms-summary'])}`];
      return [
        ...operations(definition).flatMap(({ where, operation }) =>
          parametersOf(operation)
            .filter((parameter) => parameter.in !== 'body')
            .flatMap((parameter) =>
              label(`${where} parameter ${String(parameter.name)}`, parameter),
            ),
        ),
        ...schemas(definition).flatMap(({ where, schema }) =>
          Object.entries(record(schema.properties)).flatMap(([name, property]) =>
            label(`${where}.${name}`, record(property)),
          ),
        ),
      ];
    },
    breaks: {
      'a property': (files) => delete prop(files, 'AppStatus', 'at')['x-ms-summary'],
      'a nested property': (files) =>
        delete record(record(prop(files, 'SendSmsResult', 'sms').properties).parts)['x-ms-summary'],
      'a parameter': (files) =>
        delete parametersOf(op(files, '/sms', 'post')).find((p) => p.name === 'Idempotency-Key')![
          'x-ms-summary'
        ],
      'too long': (files) => (prop(files, 'AppStatus', 'at')['x-ms-summary'] = 'At '.repeat(30)),
    },
  },
  {
    rule: 'formats are ones the platform takes, on the type they belong to',
    source: '[swagger]',
    check: ({ definition }) => {
      const typed = [
        ...schemas(definition).map(({ where, schema }) => ({ where, node: schema })),
        ...operations(definition).flatMap(({ where, operation }) =>
          parametersOf(operation).map((node) => ({ where: `${where} ${String(node.name)}`, node })),
        ),
      ];
      return typed
        .filter(({ node }) => node.format !== undefined)
        .filter(({ node }) => !(FORMATS[String(node.type)] ?? []).includes(String(node.format)))
        .map(({ where, node }) => `${where}: ${String(node.type)} ${String(node.format)}`);
    },
    breaks: {
      'an unknown format': (files) => (prop(files, 'Customer', 'mobilenumber').format = 'phone'),
      'a format on the wrong type': (files) =>
        (prop(files, 'CreditsResult', 'balance').format = 'date-time'),
    },
  },
  {
    rule: 'x-ms-visibility is important, advanced or internal; an internal required parameter has a default',
    source: '[extensions]',
    check: ({ definition }) => [
      ...stringsAt(definition, 'x-ms-visibility')
        .filter(({ text }) => !VISIBILITY.has(text))
        .map(({ where, text }) => `${where}: ${text}`),
      ...operations(definition).flatMap(({ where, operation }) =>
        parametersOf(operation)
          .filter((p) => p['x-ms-visibility'] === 'internal' && p.required === true)
          .filter((p) => p.default === undefined)
          .map((p) => `${where} ${String(p.name)}: internal and required, with no default`),
      ),
    ],
    breaks: {
      'an unknown value': (files) => (op(files, '/sms/', 'post')['x-ms-visibility'] = 'hidden'),
      'an internal required parameter without a default': (files) =>
        delete parametersOf(op(files, '/sms/', 'post')).find((p) => p.name === 'Prefer')!.default,
    },
  },
  {
    rule: 'a webhook trigger (x-ms-trigger) takes the callback as x-ms-notification-url, answers 201 with Location, and can be deleted',
    source: '[extensions], [webhook]',
    check: ({ definition }) => {
      const triggers = operations(definition).filter(
        ({ operation }) => 'x-ms-trigger' in operation,
      );
      const deletable = operations(definition).some(({ method }) => method === 'delete');
      return triggers.flatMap(({ where, operation }) => {
        const problems: string[] = [];
        if (!['single', 'batch'].includes(String(operation['x-ms-trigger']))) {
          problems.push(`${where}: x-ms-trigger ${String(operation['x-ms-trigger'])}`);
        }
        const body = parametersOf(operation).find((p) => p.in === 'body');
        const callback = Object.values(record(resolve(definition, body?.schema).properties))
          .map(record)
          .find((property) => property['x-ms-notification-url'] === true);
        if (callback === undefined) problems.push(`${where}: no x-ms-notification-url in its body`);
        else if (callback['x-ms-visibility'] !== 'internal') {
          problems.push(`${where}: the callback URL is shown to makers`);
        }
        const created = record(record(operation.responses)['201']);
        if (!('Location' in record(created.headers))) {
          problems.push(`${where}: no 201 with Location`);
        }
        if (!deletable) problems.push(`${where}: no DELETE to unsubscribe`);
        return problems;
      });
    },
    breaks: {
      'no x-ms-notification-url': (files) =>
        delete prop(files, 'TriggerSubscription', 'callbackUrl')['x-ms-notification-url'],
      'a visible callback URL': (files) =>
        (prop(files, 'TriggerSubscription', 'callbackUrl')['x-ms-visibility'] = 'advanced'),
      'no Location': (files) =>
        delete record(
          record(record(op(files, '/subscriptions/sms-delivery', 'post').responses)['201']).headers,
        ).Location,
    },
  },
  {
    rule: 'the connection asks for each key the security definitions send (a securestring of the same name), and nothing unused',
    source: '[paconn]',
    check: ({ definition, properties }) => {
      const parameters = connectionParameters(properties);
      const schemes = record(definition.securityDefinitions);
      const used = new Set(
        list(definition.security).flatMap((entry) => Object.keys(record(entry))),
      );
      const problems = [...used].flatMap((name) => {
        const scheme = record(schemes[name]);
        const parameter = record(parameters[name]);
        if (scheme.type !== 'apiKey') return [`${name}: not an API key scheme`];
        return parameter.type === 'securestring' ? [] : [`${name}: no securestring parameter`];
      });
      const referenced = new Set(
        policies(properties).flatMap((policy) =>
          Object.values(record(policy.parameters))
            .filter((value) => typeof value === 'string')
            .flatMap((value) => [...value.matchAll(CONNECTION_REFERENCE)].map((m) => m[1])),
        ),
      );
      for (const [name, parameter] of Object.entries(parameters)) {
        if (!used.has(name) && !referenced.has(name)) problems.push(`${name}: used nowhere`);
        const ui = record(record(parameter).uiDefinition);
        if (typeof ui.displayName !== 'string' || typeof ui.description !== 'string') {
          problems.push(`${name}: no displayName or description`);
        }
        if (record(ui.constraints).required !== 'true') problems.push(`${name}: not required`);
      }
      return problems;
    },
    breaks: {
      'the key renamed': (files) => {
        const parameters = connectionParameters(files.properties);
        parameters.functionKey = parameters.api_key;
        delete parameters.api_key;
      },
      'a parameter used nowhere': (files) =>
        (connectionParameters(files.properties).region = {
          type: 'string',
          uiDefinition: {
            displayName: 'Region',
            description: 'x',
            constraints: { required: 'true' },
          },
        }),
    },
  },
  {
    rule: 'the dynamichosturl policy has its URL template, naming only connection parameters there are, and keeps the base path',
    source: '[policy]',
    check: ({ definition, properties }) => {
      const ids = new Set(operations(definition).map(({ operation }) => operation.operationId));
      const parameters = connectionParameters(properties);
      const hosts = policies(properties).filter((p) => p.templateId === 'dynamichosturl');
      if (hosts.length === 0) return ['no dynamichosturl policy'];
      return hosts.flatMap((policy) => {
        const template = record(policy.parameters)['x-ms-apimTemplateParameter.urlTemplate'];
        if (typeof template !== 'string') return ['no x-ms-apimTemplateParameter.urlTemplate'];
        const problems = [...template.matchAll(CONNECTION_REFERENCE)]
          .map((m) => m[1]!)
          .filter((name) => !(name in parameters))
          .map((name) => `${template}: no connection parameter ${name}`);
        if (!template.startsWith('https://')) problems.push(`${template}: not https`);
        // It replaces the whole base URL: the path the operations are under must be in it.
        const basePath = String(definition.basePath ?? '/').replace(/\/$/, '');
        if (!template.replace(/\/$/, '').endsWith(basePath)) {
          problems.push(`${template}: drops the base path ${basePath}`);
        }
        for (const id of list(record(policy.parameters)['x-ms-apimTemplate-operationName'])) {
          if (!ids.has(id)) problems.push(`${template}: no operation ${String(id)}`);
        }
        if (typeof policy.title !== 'string') problems.push(`${template}: no title`);
        return problems;
      });
    },
    breaks: {
      'no policy': (files) => (record(files.properties.properties).policyTemplateInstances = []),
      'a parameter there is not': (files) =>
        (record(policies(files.properties)[0]!.parameters)[
          'x-ms-apimTemplateParameter.urlTemplate'
        ] = "https://@connectionParameters('hostURL')/api"),
      'the base path dropped': (files) =>
        (record(policies(files.properties)[0]!.parameters)[
          'x-ms-apimTemplateParameter.urlTemplate'
        ] = "https://@connectionParameters('hostUrl')"),
      'an operation there is not': (files) =>
        (record(policies(files.properties)[0]!.parameters)['x-ms-apimTemplate-operationName'] = [
          'Send_SMS',
          'SendSms',
        ]),
    },
  },
  {
    rule: 'x-ms-connector-metadata gives the website, the privacy policy (https URLs) and listed categories; info.contact its name, url and email',
    source: '[certification], [template]',
    check: ({ definition }) => {
      const entries = metadata(definition);
      const problems: string[] = [];
      for (const name of ['Website', 'Privacy policy']) {
        const url = entries.get(name);
        if (typeof url !== 'string' || !URL.canParse(url) || !url.startsWith('https://')) {
          problems.push(`${name}: ${String(url)}`);
        }
      }
      const categories = entries.get('Categories');
      const named = typeof categories === 'string' ? categories.split(';') : [];
      if (named.length === 0) problems.push('no Categories');
      problems.push(...named.filter((c) => !CATEGORIES.has(c)).map((c) => `category ${c}`));
      const { name, url, email } = record(record(definition.info).contact);
      if (typeof name !== 'string' || name === '') problems.push('no contact name');
      if (typeof url !== 'string' || !URL.canParse(url)) problems.push('no contact url');
      if (typeof email !== 'string' || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
        problems.push('no contact email');
      }
      return problems;
    },
    breaks: {
      'no categories': (files) =>
        (files.definition['x-ms-connector-metadata'] = list(
          files.definition['x-ms-connector-metadata'],
        ).filter((entry) => record(entry).propertyName !== 'Categories')),
      'a category not listed': (files) =>
        (list(files.definition['x-ms-connector-metadata'])
          .map(record)
          .find((entry) => entry.propertyName === 'Categories')!.propertyValue =
          'SMS;Communication'),
      'no contact email': (files) => delete record(record(files.definition.info).contact).email,
    },
  },
  {
    rule: 'apiProperties has a publisher, a stack owner and a brand colour (#rrggbb, not #007ee5 or #ffffff)',
    source: '[template]',
    check: ({ properties }) => {
      const { publisher, stackOwner, iconBrandColor } = record(properties.properties);
      const problems: string[] = [];
      if (typeof publisher !== 'string' || publisher === '') problems.push('no publisher');
      if (typeof stackOwner !== 'string' || stackOwner === '') problems.push('no stackOwner');
      const colour = String(iconBrandColor).toLowerCase();
      if (!/^#[0-9a-f]{6}$/.test(colour) || ['#007ee5', '#ffffff'].includes(colour)) {
        problems.push(`iconBrandColor ${colour}`);
      }
      return problems;
    },
    breaks: {
      'the default colour': (files) =>
        (record(files.properties.properties).iconBrandColor = '#007ee5'),
      'no publisher': (files) => delete record(files.properties.properties).publisher,
    },
  },
];

describe('the connector files follow Power Platform’s custom connector rules', () => {
  it('is a valid Swagger 2.0 document (the specification’s schema and checks) [define]', async () => {
    const { definition } = checkedIn();
    await expect(SwaggerParser.validate(definition as never)).resolves.toBeTruthy();
    const broken = checkedIn().definition;
    delete record(op({ definition: broken, properties: {} }, '/sms', 'post')).responses;
    await expect(SwaggerParser.validate(broken as never)).rejects.toThrow();
  });

  for (const { rule, source, check, breaks } of RULES) {
    describe(`${rule} ${source}`, () => {
      it('holds for the checked-in files', () => {
        expect(check(checkedIn())).toEqual([]);
      });

      it.each(Object.entries(breaks))('fails when broken: %s', (_, breakIt) => {
        const files = checkedIn();
        breakIt(files);
        expect(check(files).length).toBeGreaterThan(0);
      });
    });
  }
});
