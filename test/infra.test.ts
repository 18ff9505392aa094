/**
 * The infrastructure, tested like code: infra/main.bicep is compiled by the real Bicep CLI and
 * the ARM JSON is checked for every resource and property the app relies on, every setting the
 * settings module reads, the built-in role ids, and secrets kept out of outputs and app settings.
 *
 * Without a Bicep CLI (`npm run bicep:install` fetches it) these tests are skipped locally; in CI
 * (CI set) they fail instead.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { isBuiltin, SourceMap, type SourceMapPayload } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  DEFAULT_OPT_IN_KEYWORDS,
  DEFAULT_OPT_OUT_KEYWORDS,
} from '../shared/schemas/opt-out-keywords.js';
import { parseSettings, settingNames } from '../shared/settings.js';
import {
  allOutputs,
  findBicep,
  type Json,
  type JsonObject,
  type Module,
  type Resource,
  resourcesOf,
  Scope,
  type Template,
  UNKNOWN,
  type Value,
} from './helpers/arm-template.js';

/** Keyword settings: the template states the list; the app's default is the same list, unset. */
const KEYWORD_LISTS = ['OPT_OUT_KEYWORDS', 'OPT_IN_KEYWORDS'];

/**
 * Settings whose deployed default differs from the app's on purpose: a deployment requires signed
 * webhooks (the vault secret, created by the postprovision hook), a local run does not.
 */
const DEPLOYED_DEFAULTS: Record<string, unknown> = {
  WEBHOOK_SIGNING_SECRET_NAME: 'webhook-signing-secret',
};

const root = fileURLToPath(new URL('..', import.meta.url));
const bicep = findBicep(root, process.env);
const inCi = Boolean(process.env.CI);
if (!bicep && !inCi) {
  console.warn(
    'test/infra.test.ts skipped: no Bicep CLI found. Run `npm run bicep:install` (in CI these tests fail instead).',
  );
}

/** Built-in role definition ids (the same in every tenant). */
const BUILT_IN_ROLES = {
  'Key Vault Secrets User': '4633458b-17de-408a-b874-0445c86b69e6',
  'Key Vault Secrets Officer': 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
  'Storage Blob Data Owner': 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  'Storage Queue Data Contributor': '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  'Storage Table Data Contributor': '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  'Monitoring Metrics Publisher': '3913510d-42f4-4e42-8a64-420c390055eb',
} as const;

/** Settings the app reads that must never be app settings in Azure. */
const LOCAL_ONLY = ['SENDMODE_API_KEY', 'WEBHOOK_SIGNING_SECRET', 'AzureWebJobsStorage'];

/** What the Functions host needs with a user-assigned identity instead of a connection string. */
const IDENTITY_STORAGE = [
  'AzureWebJobsStorage__accountName',
  'AzureWebJobsStorage__credential',
  'AzureWebJobsStorage__clientId',
  'AzureWebJobsStorage__blobServiceUri',
  'AzureWebJobsStorage__queueServiceUri',
  'AzureWebJobsStorage__tableServiceUri',
];

/** Settings Flex Consumption rejects or that would put a secret in plain sight. */
const FORBIDDEN = [
  ...LOCAL_ONLY,
  'FUNCTIONS_WORKER_RUNTIME',
  'FUNCTIONS_EXTENSION_VERSION',
  'WEBSITE_NODE_DEFAULT_VERSION',
  'WEBSITE_RUN_FROM_PACKAGE',
  'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
  'WEBSITE_CONTENTSHARE',
  'APPINSIGHTS_INSTRUMENTATIONKEY',
];

const SECRET_PARAMS = ['sendmodeApiKey', 'webhookSigningSecret'];

const GIVEN = { environmentName: 'infra-test', location: 'westeurope' };

describe.skipIf(!bicep && !inCi)('infra/main.bicep, compiled by the Bicep CLI', () => {
  let template: Template;
  let main: Scope;
  let workDir: string;

  beforeAll(() => {
    if (!bicep) {
      throw new Error('No Bicep CLI: CI must run `npm run bicep:install` before the tests.');
    }
    workDir = mkdtempSync(join(tmpdir(), 'infra-test-'));
    const out = join(workDir, 'main.json');
    execFileSync(bicep, ['build', join(root, 'infra', 'main.bicep'), '--outfile', out], {
      stdio: 'pipe',
    });
    template = JSON.parse(readFileSync(out, 'utf8')) as Template;
    main = Scope.root(template, GIVEN);
  });

  afterAll(() => {
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  const mod = (name: string, scope: Scope = main): Module => scope.module(name);
  const only = (module: Module, type: string): Resource => {
    const found = resourcesOf(module.scope.template).filter((r) => r.type === type);
    expect(found, type).toHaveLength(1);
    return found[0]!;
  };
  const props = (resource: Resource): JsonObject => resource.properties as JsonObject;
  /** The function app's settings as main passes them (names to unevaluated values). */
  const appSettings = (): Record<string, Json> =>
    mod('functionapp').passed.appSettings!.value as Record<string, Json>;
  /** The settings evaluated with the given parameters (UNKNOWN where only a deployment knows). */
  const evaluatedSettings = (given: Record<string, Json> = {}): Record<string, Value> => {
    const scope = Scope.root(template, { ...GIVEN, ...given });
    return scope.module('functionapp').scope.parameter('appSettings') as Record<string, Value>;
  };

  it('is a subscription deployment that creates a tagged resource group', () => {
    expect(template.$schema).toContain('subscriptionDeploymentTemplate');
    const rg = resourcesOf(template).find((r) => r.type === 'Microsoft.Resources/resourceGroups');
    expect(rg).toBeDefined();
    expect(main.evaluate(rg!.tags as Json)).toEqual({ 'azd-env-name': 'infra-test' });
    expect(main.evaluate(rg!.name)).toBe('rg-infra-test');
    for (const param of ['environmentName', 'location', 'principalId']) {
      expect(template.parameters, param).toHaveProperty(param);
    }
  });

  it('uses native resources only (no registry modules) with a module per concern', () => {
    const modules = resourcesOf(template)
      .filter((r) => r.type === 'Microsoft.Resources/deployments')
      .map((r) => r.name)
      .sort();
    expect(modules).toEqual(
      [
        'alerts',
        'connector',
        'functionapp',
        'identity',
        'keyvault',
        'monitoring',
        'roles-app',
        'roles-user',
        'storage',
        'workbook',
      ].sort(),
    );
    expect(readFileSync(join(root, 'infra', 'main.bicep'), 'utf8')).not.toMatch(/'br[:/]/);
  });

  describe('function app', () => {
    it('runs on a Flex Consumption (FC1) Linux plan', () => {
      const plan = only(mod('functionapp'), 'Microsoft.Web/serverfarms');
      expect(plan.sku).toEqual({ name: 'FC1', tier: 'FlexConsumption' });
      expect(props(plan).reserved).toBe(true);
    });

    it('is a Linux function app on Node.js 22 with the user-assigned identity', () => {
      const functionApp = mod('functionapp');
      const site = only(functionApp, 'Microsoft.Web/sites');
      const scope = functionApp.scope;
      expect(site.kind).toBe('functionapp,linux');
      expect((site.identity as JsonObject).type).toBe('UserAssigned');
      expect(
        Object.keys((site.identity as JsonObject).userAssignedIdentities as JsonObject),
      ).toEqual(["[format('{0}', parameters('identityId'))]"]);
      expect(functionApp.passed.identityId!.value).toMatch(/'identity'.*\.outputs\.id\.value/);

      const config = scope.evaluate(props(site).functionAppConfig!) as Record<string, Value>;
      expect(config.runtime).toEqual({ name: 'node', version: '22' });
      expect(config.scaleAndConcurrency).toEqual({
        instanceMemoryMB: 2048,
        // Sized to the budget: 100 calls a minute do not need 100 instances (README: Scale-out).
        maximumInstanceCount: 10,
      });
      const deployment = props(site).functionAppConfig as { deployment: { storage: JsonObject } };
      expect(deployment.deployment.storage.type).toBe('blobContainer');
      expect(deployment.deployment.storage.value).toBe(
        "[format('{0}{1}', parameters('blobEndpoint'), parameters('deploymentContainerName'))]",
      );
      expect(deployment.deployment.storage.authentication).toEqual({
        type: 'UserAssignedIdentity',
        userAssignedIdentityResourceId: "[parameters('identityId')]",
      });
      expect(functionApp.passed.blobEndpoint!.value).toMatch(/'storage'.*outputs\.blobEndpoint/);
      expect(functionApp.passed.deploymentContainerName!.value).toMatch(
        /'storage'.*outputs\.deploymentContainerName/,
      );
    });

    it('is tagged azd-service-name: api, the service in azure.yaml', () => {
      const functionApp = mod('functionapp');
      const site = only(functionApp, 'Microsoft.Web/sites');
      expect(functionApp.scope.evaluate(site.tags as Json)).toEqual({
        'azd-env-name': 'infra-test',
        'azd-service-name': 'api',
      });
      const azureYaml = readFileSync(join(root, 'azure.yaml'), 'utf8');
      expect(azureYaml).toMatch(/^services:\n {2}api:\n/m);
      expect(azureYaml).toMatch(/^ {4}host: function$/m);
      expect(azureYaml).toMatch(/^ {4}language: ts$/m);
      expect(azureYaml).toMatch(/^ {4}project: \.$/m);
    });

    it('leaves the anonymous routes open: no App Service authentication, no access restrictions', () => {
      // A queued send's status URL (/api/sms/{id}/status?token=...) is followed by pollers without
      // any key, like /api/health: nothing in front of the Functions host may refuse it.
      const functionApp = mod('functionapp');
      const types = resourcesOf(functionApp.scope.template).map((r) => r.type);
      expect(types).not.toContain('Microsoft.Web/sites/config');
      expect(JSON.stringify(functionApp.scope.template)).not.toMatch(
        /authsettings|ipSecurityRestrictions|privateEndpoint/i,
      );
      const site = only(functionApp, 'Microsoft.Web/sites');
      expect(props(site).publicNetworkAccess).toBe('Enabled');
      expect(props(site).clientCertEnabled).toBe(false);
    });

    it('is hardened: HTTPS only, TLS 1.2, no FTP, no basic publishing credentials', () => {
      const functionApp = mod('functionapp');
      const site = only(functionApp, 'Microsoft.Web/sites');
      expect(props(site).httpsOnly).toBe(true);
      const siteConfig = props(site).siteConfig as JsonObject;
      expect(siteConfig.minTlsVersion).toBe('1.2');
      expect(siteConfig.scmMinTlsVersion).toBe('1.2');
      expect(siteConfig.ftpsState).toBe('Disabled');
      expect(siteConfig).not.toHaveProperty('linuxFxVersion'); // Flex sets the runtime itself
      const policies = resourcesOf(functionApp.scope.template).filter(
        (r) => r.type === 'Microsoft.Web/sites/basicPublishingCredentialsPolicies',
      );
      const byName = Object.fromEntries(
        policies.map((p) => [/'(ftp|scm)'\)\]$/.exec(p.name)?.[1], props(p).allow]),
      );
      expect(byName).toEqual({ ftp: false, scm: false });
    });
  });

  describe('app settings', () => {
    it('come from the appSettings object main passes', () => {
      const site = only(mod('functionapp'), 'Microsoft.Web/sites');
      const copy = (props(site).siteConfig as { copy: JsonObject[] }).copy;
      expect(copy).toHaveLength(1);
      expect(copy[0]!.name).toBe('appSettings');
      expect(copy[0]!.count).toContain("items(parameters('appSettings'))");
    });

    it('include every setting the settings module reads, except the local-only ones', () => {
      const names = Object.keys(appSettings());
      const required = settingNames().filter((name) => !LOCAL_ONLY.includes(name));
      expect(required.length).toBeGreaterThan(20);
      for (const name of required) expect(names, name).toContain(name);
      for (const name of IDENTITY_STORAGE) expect(names, name).toContain(name);
      for (const name of FORBIDDEN) expect(names, name).not.toContain(name);
    });

    it('reach storage, the vault and telemetry through the user-assigned identity', () => {
      const settings = appSettings();
      expect(settings.AzureWebJobsStorage__credential).toBe('managedidentity');
      const identityClientId = /'identity'.*\.outputs\.clientId\.value\]$/;
      expect(settings.AzureWebJobsStorage__clientId).toMatch(identityClientId);
      expect(settings.AZURE_CLIENT_ID).toMatch(identityClientId);
      expect(settings.AzureWebJobsStorage__accountName).toMatch(
        /'storage'.*\.outputs\.name\.value/,
      );
      for (const service of ['blob', 'queue', 'table']) {
        expect(settings[`AzureWebJobsStorage__${service}ServiceUri`]).toMatch(
          new RegExp(`'storage'.*\\.outputs\\.${service}Endpoint\\.value`),
        );
      }
      expect(settings.KEY_VAULT_URI).toMatch(/'keyvault'.*\.outputs\.uri\.value/);
      expect(settings.APPLICATIONINSIGHTS_AUTHENTICATION_STRING).toMatch(
        /^\[format\('ClientId=\{0\};Authorization=AAD', reference\(.*'identity'.*\.outputs\.clientId\.value\)\]$/,
      );
      expect(settings.APPLICATIONINSIGHTS_CONNECTION_STRING).toMatch(
        /'monitoring'.*\.outputs\.connectionString\.value/,
      );
    });

    it('turn on source maps for the bundled app (stack traces name the .ts sources)', () => {
      expect(appSettings().NODE_OPTIONS).toBe('--enable-source-maps');
    });

    it('never carry a secret parameter', () => {
      const text = JSON.stringify(appSettings());
      for (const param of SECRET_PARAMS) expect(text).not.toContain(`parameters('${param}')`);
      expect(text).not.toMatch(/listKeys|AccountKey=/i);
    });

    it("parse with the app's own settings module, with the template defaults", () => {
      const evaluated = evaluatedSettings();
      // What only a deployment knows, with values of the right shape.
      const deployed: Record<string, string> = {
        AzureWebJobsStorage__accountName: 'stexample',
        AzureWebJobsStorage__clientId: '00000000-0000-0000-0000-000000000001',
        AzureWebJobsStorage__blobServiceUri: 'https://stexample.blob.core.windows.net/',
        AzureWebJobsStorage__queueServiceUri: 'https://stexample.queue.core.windows.net/',
        AzureWebJobsStorage__tableServiceUri: 'https://stexample.table.core.windows.net/',
        AZURE_CLIENT_ID: '00000000-0000-0000-0000-000000000001',
        KEY_VAULT_URI: 'https://kv-example.vault.azure.net/',
        APPLICATIONINSIGHTS_CONNECTION_STRING: 'InstrumentationKey=x;IngestionEndpoint=https://x/',
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=x;Authorization=AAD',
      };
      const env: Record<string, string> = {};
      for (const [name, value] of Object.entries(evaluated)) {
        if (value === UNKNOWN) {
          expect(deployed, `${name} is only known at deployment`).toHaveProperty(name);
          env[name] = deployed[name]!;
        } else {
          expect(typeof value, name).toBe('string'); // app settings are strings
          env[name] = value as string;
        }
      }
      const settings = parseSettings(env);
      const defaults = parseSettings({});
      // Every tunable default in the template is the app's own default.
      for (const name of settingNames()) {
        if (LOCAL_ONLY.includes(name) || name in deployed || KEYWORD_LISTS.includes(name)) continue;
        if (name in DEPLOYED_DEFAULTS) continue; // checked below
        expect(settings[name as keyof typeof settings], name).toEqual(
          defaults[name as keyof typeof defaults],
        );
      }
      expect(settings.KEY_VAULT_URI).toBe('https://kv-example.vault.azure.net/');
      // The template states the keyword list the app would use anyway.
      expect(settings.OPT_OUT_KEYWORDS?.split(',')).toEqual([...DEFAULT_OPT_OUT_KEYWORDS]);
      expect(settings.OPT_IN_KEYWORDS?.split(',')).toEqual([...DEFAULT_OPT_IN_KEYWORDS]);
      // Signed by default: the app reads the signing secret from the vault, by this name.
      for (const [name, value] of Object.entries(DEPLOYED_DEFAULTS)) {
        expect(settings[name as keyof typeof settings], name).toEqual(value);
        expect(defaults[name as keyof typeof defaults], name).not.toEqual(value);
      }
      expect(evaluated.WEBHOOK_SIGNING_SECRET_NAME).toBe('webhook-signing-secret');
      // Easy Auth is not configured by the template, so its principal header is not trusted.
      expect(evaluated.APP_SERVICE_AUTH_ENABLED).toBe('false');
    });

    it('require webhook signatures by default; unsigned only when chosen, and no secret is given', () => {
      expect(template.parameters?.requireWebhookSignature).toMatchObject({
        type: 'bool',
        defaultValue: true,
      });
      expect(evaluatedSettings().WEBHOOK_SIGNING_SECRET_NAME).toBe('webhook-signing-secret');
      expect(evaluatedSettings({ requireWebhookSignature: true }).WEBHOOK_SIGNING_SECRET_NAME).toBe(
        'webhook-signing-secret',
      );
      expect(
        evaluatedSettings({ requireWebhookSignature: true, webhookSigningSecretName: 'hooks' })
          .WEBHOOK_SIGNING_SECRET_NAME,
      ).toBe('hooks');
      // Unsigned by choice: the name is empty, which the app reads as "not set".
      const unsigned = evaluatedSettings({ requireWebhookSignature: false });
      expect(unsigned.WEBHOOK_SIGNING_SECRET_NAME).toBe('');
      expect(
        parseSettings({
          WEBHOOK_SIGNING_SECRET_NAME: unsigned.WEBHOOK_SIGNING_SECRET_NAME as string,
        }).WEBHOOK_SIGNING_SECRET_NAME,
      ).toBeUndefined();
      // A secret given at deployment still turns signatures on.
      expect(
        evaluatedSettings({
          requireWebhookSignature: false,
          webhookSigningSecret: 'whsec_c2VjcmV0',
        }).WEBHOOK_SIGNING_SECRET_NAME,
      ).toBe('webhook-signing-secret');
    });

    it('pass APP_SERVICE_AUTH_ENABLED as the strings true / false (default false)', () => {
      expect(template.parameters?.appServiceAuthEnabled).toMatchObject({
        type: 'bool',
        defaultValue: false,
      });
      expect(evaluatedSettings().APP_SERVICE_AUTH_ENABLED).toBe('false');
      expect(evaluatedSettings({ appServiceAuthEnabled: true }).APP_SERVICE_AUTH_ENABLED).toBe(
        'true',
      );
    });

    it('pass tuned parameters through', () => {
      const tuned = evaluatedSettings({
        rateLimitMaxCalls: 250,
        rateLimitWindowSeconds: 120,
        sendmodeAccountName: 'shared-account',
        defaultCountryCode: '353',
        sendmodeApiKeySecretName: 'sendmode-key-2',
      });
      expect(tuned.RATE_LIMIT_MAX_CALLS).toBe('250');
      // The reserve follows the limit unless given.
      expect(tuned.RATE_LIMIT_INTERACTIVE_RESERVE).toBe('50');
      expect(
        evaluatedSettings({ rateLimitInteractiveReserve: 0 }).RATE_LIMIT_INTERACTIVE_RESERVE,
      ).toBe('0');
      expect(tuned.RATE_LIMIT_WINDOW_SECONDS).toBe('120');
      expect(tuned.SENDMODE_ACCOUNT_NAME).toBe('shared-account');
      expect(tuned.DEFAULT_COUNTRY_CODE).toBe('353');
      expect(tuned.SENDMODE_API_KEY_SECRET_NAME).toBe('sendmode-key-2');
    });

    it('keep queued sends’ statuses SEND_STATUS_TTL_SECONDS, within the bounds the app takes', () => {
      expect(template.parameters?.sendStatusTtlSeconds).toMatchObject({
        type: 'int',
        defaultValue: 604_800,
        minValue: 3_600,
        maxValue: 90 * 86_400,
      });
      expect(evaluatedSettings().SEND_STATUS_TTL_SECONDS).toBe('604800');
      const tuned = evaluatedSettings({ sendStatusTtlSeconds: 3_600 });
      expect(tuned.SEND_STATUS_TTL_SECONDS).toBe('3600');
      // The template's bounds are the settings module's: both ends parse, one past either fails.
      for (const bound of [3_600, 90 * 86_400]) {
        expect(
          parseSettings({ SEND_STATUS_TTL_SECONDS: String(bound) }).SEND_STATUS_TTL_SECONDS,
        ).toBe(bound);
      }
      for (const outside of [3_599, 90 * 86_400 + 1]) {
        expect(() => parseSettings({ SEND_STATUS_TTL_SECONDS: String(outside) })).toThrow(
          /SEND_STATUS_TTL_SECONDS/,
        );
      }
      expect(evaluatedSettings().SEND_QUEUE_NAME).toBe('sms-outbox');
      expect(evaluatedSettings().SEND_STATUS_TABLE_NAME).toBe('sendstatus');
    });

    it('merge queued sends (SEND_MERGE on by default), tuned within the bounds the app takes', () => {
      expect(template.parameters?.sendMerge).toMatchObject({
        type: 'string',
        defaultValue: 'on',
        allowedValues: ['on', 'off'],
      });
      const defaults = evaluatedSettings();
      expect(defaults.SEND_MERGE).toBe('on');
      expect(defaults.SEND_MERGE_WINDOW_MS).toBe('2000');
      expect(defaults.SEND_MAX_RECIPIENTS_PER_CALL).toBe('1000');
      expect(defaults.SEND_MERGE_TABLE_NAME).toBe('sendmerge');
      const tuned = evaluatedSettings({
        sendMerge: 'off',
        sendMergeWindowMs: 0,
        sendMaxRecipientsPerCall: 250,
      });
      expect(tuned.SEND_MERGE).toBe('off');
      expect(tuned.SEND_MERGE_WINDOW_MS).toBe('0');
      expect(tuned.SEND_MAX_RECIPIENTS_PER_CALL).toBe('250');
      expect(
        parseSettings({
          SEND_MERGE: tuned.SEND_MERGE as string,
          SEND_MERGE_WINDOW_MS: tuned.SEND_MERGE_WINDOW_MS as string,
          SEND_MAX_RECIPIENTS_PER_CALL: tuned.SEND_MAX_RECIPIENTS_PER_CALL as string,
        }),
      ).toMatchObject({
        SEND_MERGE: 'off',
        SEND_MERGE_WINDOW_MS: 0,
        SEND_MAX_RECIPIENTS_PER_CALL: 250,
      });
      expect(() => parseSettings({ SEND_MERGE: 'maybe' })).toThrow(/SEND_MERGE/);
      // The template's bounds are the settings module's: both ends parse, one past either fails.
      const bounded = {
        sendMergeWindowMs: ['SEND_MERGE_WINDOW_MS', 2_000, 0, 10_000],
        sendMaxRecipientsPerCall: ['SEND_MAX_RECIPIENTS_PER_CALL', 1_000, 1, 1_000],
      } as const;
      for (const [param, [name, defaultValue, min, max]] of Object.entries(bounded)) {
        expect(template.parameters?.[param], param).toMatchObject({
          type: 'int',
          defaultValue,
          minValue: min,
          maxValue: max,
        });
        for (const bound of [min, max]) {
          expect(parseSettings({ [name]: String(bound) })[name], name).toBe(bound);
        }
        for (const outside of [min - 1, max + 1]) {
          expect(() => parseSettings({ [name]: String(outside) }), name).toThrow(new RegExp(name));
        }
      }
    });

    it('choose the Sendmode API generation; the base URL follows it unless given', () => {
      const v3 = evaluatedSettings({ sendmodeApiVersion: 'v3', defaultSenderId: 'Acme' });
      expect(v3.SENDMODE_API_VERSION).toBe('v3');
      expect(v3.DEFAULT_SENDER_ID).toBe('Acme');
      expect(v3.SENDMODE_BASE_URL).toBe('');
      const parsed = parseSettings({
        SENDMODE_API_VERSION: String(v3.SENDMODE_API_VERSION),
        SENDMODE_BASE_URL: String(v3.SENDMODE_BASE_URL),
        DEFAULT_SENDER_ID: String(v3.DEFAULT_SENDER_ID),
      });
      expect(parsed.SENDMODE_BASE_URL).toBe('https://sms-rest.sendmode.dev/3.0');
      expect(evaluatedSettings().SENDMODE_API_VERSION).toBe('v2');
    });
  });

  describe('storage account', () => {
    it('takes Entra ID only, over HTTPS with TLS 1.2, with no public blob access', () => {
      const account = only(mod('storage'), 'Microsoft.Storage/storageAccounts');
      expect(props(account)).toMatchObject({
        allowSharedKeyAccess: false,
        minimumTlsVersion: 'TLS1_2',
        allowBlobPublicAccess: false,
        supportsHttpsTrafficOnly: true,
      });
    });

    it("has the app's queues with their poison queues, and its tables", () => {
      const storage = mod('storage');
      const settings = evaluatedSettings();
      const queues = storage.scope.parameter('queueNames');
      expect(queues).toEqual([
        settings.SEND_QUEUE_NAME,
        `${settings.SEND_QUEUE_NAME as string}-poison`,
        settings.IMPORT_QUEUE_NAME,
        `${settings.IMPORT_QUEUE_NAME as string}-poison`,
        settings.OPT_OUT_QUEUE_NAME,
        `${settings.OPT_OUT_QUEUE_NAME as string}-poison`,
        settings.EVENT_QUEUE_NAME,
        `${settings.EVENT_QUEUE_NAME as string}-poison`,
      ]);
      expect(queues).toEqual([
        'sms-outbox',
        'sms-outbox-poison',
        'customer-imports',
        'customer-imports-poison',
        'optout-sync',
        'optout-sync-poison',
        'event-deliveries',
        'event-deliveries-poison',
      ]);
      const tables = storage.scope.parameter('tableNames') as string[];
      expect([...tables].sort()).toEqual(
        [
          settings.RATE_LIMIT_TABLE_NAME,
          settings.IDEMPOTENCY_TABLE_NAME,
          settings.SUPPRESSION_TABLE_NAME,
          settings.WEBHOOK_IDS_TABLE_NAME,
          settings.OPT_OUT_AUDIT_TABLE_NAME,
          settings.SEND_STATUS_TABLE_NAME,
          settings.SEND_MERGE_TABLE_NAME,
          settings.DELIVERY_TABLE_NAME,
          settings.HISTORY_TABLE_NAME,
          settings.SUBSCRIPTION_TABLE_NAME,
        ].sort(),
      );
      expect([...tables].sort()).toEqual([
        'deliveries',
        'history',
        'idempotency',
        'optoutaudit',
        'optouts',
        'ratelimits',
        'sendmerge',
        'sendstatus',
        'subscriptions',
        'webhookids',
      ]);

      const queue = only(storage, 'Microsoft.Storage/storageAccounts/queueServices/queues');
      expect(queue.copy).toMatchObject({ count: "[length(parameters('queueNames'))]" });
      expect(queue.name).toContain("parameters('queueNames')[copyIndex()]");
      const table = only(storage, 'Microsoft.Storage/storageAccounts/tableServices/tables');
      expect(table.copy).toMatchObject({ count: "[length(parameters('tableNames'))]" });
      expect(table.name).toContain("parameters('tableNames')[copyIndex()]");
    });

    it('has the private deployment package container', () => {
      const storage = mod('storage');
      const container = only(storage, 'Microsoft.Storage/storageAccounts/blobServices/containers');
      expect(props(container).publicAccess).toBe('None');
      expect(container.name).toContain("parameters('deploymentContainerName')");
      expect(storage.scope.template.outputs?.deploymentContainerName).toBeDefined();
    });
  });

  describe('key vault', () => {
    it('uses RBAC, soft delete and purge protection', () => {
      const vault = only(mod('keyvault'), 'Microsoft.KeyVault/vaults');
      expect(props(vault)).toMatchObject({
        enableRbacAuthorization: true,
        enableSoftDelete: true,
        enablePurgeProtection: true,
      });
      expect(props(vault)).not.toHaveProperty('accessPolicies');
    });

    it('stores each secret only when its secure parameter is given, under the configured name', () => {
      const keyVault = mod('keyvault');
      const secrets = resourcesOf(keyVault.scope.template).filter(
        (r) => r.type === 'Microsoft.KeyVault/vaults/secrets',
      );
      expect(secrets).toHaveLength(2);
      const pairs = [
        ['sendmodeApiKey', 'sendmodeApiKeySecretName', 'sendmode-api-key'],
        ['webhookSigningSecret', 'webhookSigningSecretName', 'webhook-signing-secret'],
      ] as const;
      for (const [value, name, defaultName] of pairs) {
        const secret = secrets.find((s) => props(s).value === `[parameters('${value}')]`);
        expect(secret, value).toBeDefined();
        expect(secret!.condition).toBe(`[not(empty(parameters('${value}')))]`);
        expect(secret!.name).toContain(`parameters('${name}')`);
        expect(keyVault.passed[value]!.value).toBe(`[parameters('${value}')]`);
        expect(keyVault.scope.parameter(name)).toBe(defaultName);
      }
      // The app reads the key under the same name the vault stores it.
      expect(appSettingsValue('SENDMODE_API_KEY_SECRET_NAME')).toBe(
        "[parameters('sendmodeApiKeySecretName')]",
      );
    });

    const appSettingsValue = (name: string) => appSettings()[name];
  });

  describe('monitoring', () => {
    it('has Log Analytics and Application Insights with local auth disabled', () => {
      const monitoring = mod('monitoring');
      only(monitoring, 'Microsoft.OperationalInsights/workspaces');
      const insights = only(monitoring, 'Microsoft.Insights/components');
      expect(props(insights).DisableLocalAuth).toBe(true);
      expect(props(insights).WorkspaceResourceId).toContain(
        'Microsoft.OperationalInsights/workspaces',
      );
    });
  });

  describe('alerts', () => {
    /** Each alert: its name after the prefix, its schedule and what its query must read. */
    const ALERTS: {
      suffix: string;
      windowSize: string;
      evaluationFrequency: string;
      lets: string[];
      reads: string[];
    }[] = [
      {
        suffix: 'delivered-ratio',
        windowSize: 'PT1H',
        evaluationFrequency: 'PT15M',
        lets: ['let deliveredPercent = 50;', 'let minimumFinals = 20;'],
        reads: [
          'customMetrics',
          'name == "sms.delivery"',
          'customDimensions["status"]',
          '"delivered", "expired", "undelivered", "rejected", "opted-out"',
          'valueSum',
          'delivered * 100 < finals * deliveredPercent',
        ],
      },
      {
        suffix: 'poisoned',
        windowSize: 'PT15M',
        evaluationFrequency: 'PT5M',
        lets: ['let threshold = 1;'],
        reads: [
          'customMetrics',
          'name == "queue.poisoned"',
          'customDimensions["queue"]',
          'valueSum',
        ],
      },
      {
        suffix: 'key-refused',
        windowSize: 'PT15M',
        evaluationFrequency: 'PT5M',
        lets: ['let threshold = 1;'],
        reads: [
          'name == "sendmode.calls"',
          'tostring(customDimensions["outcome"]) == "rejected"',
          'tostring(customDimensions["reason"]) == "key"',
          'refused >= threshold',
        ],
      },
      {
        suffix: 'sendmode-failing',
        windowSize: 'PT15M',
        evaluationFrequency: 'PT5M',
        lets: ['let failingPercent = 10;', 'let minimumCalls = 20;'],
        reads: [
          'name == "sendmode.calls"',
          'customDimensions["outcome"]',
          'outcome in ("failed", "throttled")',
          'calls >= minimumCalls and failing * 100 > calls * failingPercent',
        ],
      },
      {
        suffix: 'budget-exhausted',
        windowSize: 'PT1H',
        evaluationFrequency: 'PT5M',
        lets: ['let maxCalls = 100;', 'let minutes = 30;'],
        reads: [
          'name == "sendmode.limit.admitted"',
          '"sendmode.limit.waits"',
          'admitted >= maxCalls',
          'bin(timestamp, 1m)',
          'exhaustedMinutes >= minutes',
          // The gauge repeats an idle instance's last reading: only readings of active instances count.
          'join kind=inner active on timestamp, cloud_RoleInstance',
        ],
      },
      {
        suffix: 'dependency-unavailable',
        windowSize: 'PT10M',
        evaluationFrequency: 'PT5M',
        lets: ['let threshold = 5;'],
        reads: [
          'traces',
          'tostring(customDimensions["outcome"]) == "dependency-unavailable"',
          'customDimensions["dependency"]',
          'sum(itemCount)',
        ],
      },
    ];

    const rules = (module: Module) =>
      resourcesOf(module.scope.template).filter(
        (r) => r.type === 'Microsoft.Insights/scheduledQueryRules',
      );
    const rule = (suffix: string, module: Module = mod('alerts')): Resource => {
      const found = rules(module).filter(
        (r) => r.name === `[format('{0}-${suffix}', parameters('namePrefix'))]`,
      );
      expect(found, suffix).toHaveLength(1);
      return found[0]!;
    };
    type Criterion = {
      query: string;
      timeAggregation: string;
      operator: string;
      threshold: number;
      failingPeriods: JsonObject;
    };
    /** The rule's one criterion, evaluated with main's parameters (defaults unless given). */
    const criterion = (suffix: string, given: Record<string, Json> = {}): Criterion => {
      const alerts = mod('alerts', Scope.root(template, { ...GIVEN, ...given }));
      const criteria = alerts.scope.evaluate(props(rule(suffix, alerts)).criteria!) as {
        allOf: Criterion[];
      };
      expect(criteria.allOf, suffix).toHaveLength(1);
      return criteria.allOf[0]!;
    };
    /** The `let` lines a query starts with. */
    const letsOf = (query: string) => query.split('\n').filter((line) => line.startsWith('let '));

    it('are six log search alerts on the Application Insights component', () => {
      const alerts = mod('alerts');
      expect(rules(alerts)).toHaveLength(ALERTS.length);
      expect(alerts.passed.applicationInsightsId!.value).toMatch(
        /'monitoring'.*\.outputs\.applicationInsightsId\.value\]$/,
      );
      expect(alerts.passed.namePrefix!.value).toBe(
        "[format('alert-{0}', variables('resourceToken'))]",
      );
      for (const { suffix, windowSize, evaluationFrequency } of ALERTS) {
        const properties = props(rule(suffix));
        expect(properties.scopes, suffix).toEqual(["[parameters('applicationInsightsId')]"]);
        expect(properties.windowSize, suffix).toBe(windowSize);
        expect(properties.evaluationFrequency, suffix).toBe(evaluationFrequency);
        expect(properties.enabled, suffix).toBe(true);
        expect(alerts.scope.evaluate(properties.displayName!), suffix).toEqual(expect.any(String));
      }
    });

    it('read the metrics and fields each is about, and fire on any row their query returns', () => {
      for (const { suffix, lets, reads } of ALERTS) {
        const found = criterion(suffix);
        // The query returns rows only when the alert should fire (its thresholds are in it).
        expect(found.timeAggregation, suffix).toBe('Count');
        expect(found.operator, suffix).toBe('GreaterThan');
        expect(found.threshold, suffix).toBe(0);
        expect(found.failingPeriods, suffix).toEqual({
          numberOfEvaluationPeriods: 1,
          minFailingPeriodsToAlert: 1,
        });
        // The default thresholds, in `let` lines first.
        expect(letsOf(found.query).slice(0, lets.length), suffix).toEqual(lets);
        for (const text of reads) expect(found.query, `${suffix}: ${text}`).toContain(text);
      }
    });

    it('read the delivered ratio from the sms.delivery metric, no longer from log lines', () => {
      const { query } = criterion('delivered-ratio');
      expect(query).not.toMatch(/\btraces\b|\bmessage\b|parse_json|deliveryState/);
      // Recipients reported `dispatched` are not final: the ratio is of final statuses only.
      expect(query).not.toContain('dispatched');
      const properties = props(rule('delivered-ratio'));
      expect(mod('alerts').scope.evaluate(properties.displayName!)).toBe(
        'SMS delivered ratio below 50%',
      );
    });

    it('take their thresholds from main’s parameters, with sensible defaults and bounds', () => {
      const passed = mod('alerts').passed;
      const wiring: Record<string, [string, Json]> = {
        deliveredPercentThreshold: ['deliveredAlertPercent', 50],
        poisonedThreshold: ['poisonedAlertCount', 1],
        keyRefusedThreshold: ['keyRefusedAlertCount', 1],
        failingPercentThreshold: ['failingAlertPercent', 10],
        failingMinimumCalls: ['failingAlertMinimumCalls', 20],
        budgetMinutes: ['budgetAlertMinutes', 30],
        budgetCalls: ['budgetAlertCalls', "[parameters('rateLimitMaxCalls')]"],
        dependencyUnavailableThreshold: ['dependencyAlertCount', 5],
        alertEmail: ['alertEmail', ''],
      };
      for (const [param, [mainParam, defaultValue]] of Object.entries(wiring)) {
        expect(passed[param]?.value, param).toBe(`[parameters('${mainParam}')]`);
        expect(template.parameters?.[mainParam]?.defaultValue, mainParam).toEqual(defaultValue);
      }
      const bounds = (name: string) => {
        const declared = template.parameters?.[name] as { minValue?: number; maxValue?: number };
        return [declared.minValue, declared.maxValue];
      };
      expect(bounds('failingAlertPercent')).toEqual([1, 100]);
      // The query looks at minutes + 10 (ingestion delay) of the rule's one-hour window.
      expect(bounds('budgetAlertMinutes')).toEqual([5, 50]);
      expect(bounds('budgetAlertCalls')).toEqual([1, 1000]);
      for (const name of ['poisonedAlertCount', 'keyRefusedAlertCount', 'dependencyAlertCount']) {
        expect(bounds(name)[0], name).toBe(1);
      }

      const tuned = {
        deliveredAlertPercent: 70,
        poisonedAlertCount: 3,
        keyRefusedAlertCount: 2,
        failingAlertPercent: 25,
        failingAlertMinimumCalls: 50,
        budgetAlertMinutes: 15,
        budgetAlertCalls: 80,
        dependencyAlertCount: 10,
      };
      const lets = (suffix: string) => letsOf(criterion(suffix, tuned).query);
      expect(lets('delivered-ratio')).toContain('let deliveredPercent = 70;');
      expect(lets('poisoned')).toContain('let threshold = 3;');
      expect(lets('key-refused')).toContain('let threshold = 2;');
      expect(lets('sendmode-failing')).toEqual(
        expect.arrayContaining(['let failingPercent = 25;', 'let minimumCalls = 50;']),
      );
      expect(lets('budget-exhausted')).toEqual(
        expect.arrayContaining(['let maxCalls = 80;', 'let minutes = 15;']),
      );
      expect(lets('dependency-unavailable')).toContain('let threshold = 10;');
      // The budget's limit follows the rate limit unless given.
      expect(letsOf(criterion('budget-exhausted', { rateLimitMaxCalls: 250 }).query)).toContain(
        'let maxCalls = 250;',
      );
    });

    it('all tell the action group, which mails alertEmail and exists only when it is given', () => {
      const alerts = mod('alerts');
      const groups = resourcesOf(alerts.scope.template).filter(
        (r) => r.type === 'Microsoft.Insights/actionGroups',
      );
      expect(groups).toHaveLength(1);
      const group = groups[0]!;
      expect(group.name).toBe("[format('{0}-ops', parameters('namePrefix'))]");
      const withEmail = mod(
        'alerts',
        Scope.root(template, { ...GIVEN, alertEmail: 'ops@example.com' }),
      );
      expect(alerts.scope.evaluate(group.condition as Json)).toBe(false);
      expect(withEmail.scope.evaluate(group.condition as Json)).toBe(true);
      expect(withEmail.scope.evaluate(props(group).emailReceivers!)).toEqual([
        { name: 'operator', emailAddress: 'ops@example.com', useCommonAlertSchema: true },
      ]);
      // Every rule's actions: the group's id when it exists, none when it does not.
      const actions = alerts.scope.template.variables?.actions as { actionGroups: string };
      expect(actions.actionGroups).toBe(
        "[if(empty(parameters('alertEmail')), createArray(), createArray(resourceId('Microsoft.Insights/actionGroups', format('{0}-ops', parameters('namePrefix')))))]",
      );
      for (const { suffix } of ALERTS) {
        expect(props(rule(suffix)).actions, suffix).toBe("[variables('actions')]");
      }
    });
  });

  describe('workbook', () => {
    const INSIGHTS_ID =
      '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-infra-test/providers/Microsoft.Insights/components/appi-example';
    /** Each chart: its item name and what its query must read. */
    const CHARTS: Record<string, string[]> = {
      budget: [
        'name == "sendmode.limit.admitted"',
        'name == "sendmode.calls"',
        'customDimensions["class"]',
        'bin(timestamp, 1m)',
        'series = "limit"',
      ],
      sends: ['"sms.recipients"', '"sms.parts"', 'customDimensions["class"]'],
      failures: ['name == "sendmode.calls"', 'customDimensions["outcome"]', 'outcome != "ok"'],
      waits: ['name == "sendmode.limit.waits"', 'customDimensions["kind"]'],
      poisoned: ['name == "queue.poisoned"', 'customDimensions["queue"]'],
      delivery: ['name == "sms.delivery"', 'customDimensions["status"]'],
      dependencies: ['traces', '"dependency-unavailable"', 'customDimensions["dependency"]'],
    };
    type Item = { type: number; name: string; content: JsonObject };
    type Workbook = { version: string; items: Item[]; fallbackResourceIds: string[] };

    const workbook = (): Resource => only(mod('workbook'), 'Microsoft.Insights/workbooks');
    /** serializedData as deployed with main's parameters, the component's id being INSIGHTS_ID. */
    const workbookData = (given: Record<string, Json> = {}): Workbook => {
      const module = mod('workbook', Scope.root(template, { ...GIVEN, ...given }));
      const scope = new Scope(module.scope.template, (name) =>
        name === 'applicationInsightsId' ? INSIGHTS_ID : module.scope.parameter(name),
      );
      const data = scope.evaluate(props(workbook()).serializedData!);
      expect(typeof data).toBe('string');
      return JSON.parse(data as string) as Workbook;
    };
    const charts = (data: Workbook) => data.items.filter((item) => item.type === 3);

    it('is a shared workbook on the Application Insights component, with a stable GUID name', () => {
      const module = mod('workbook');
      const resource = workbook();
      expect(resource.kind).toBe('shared');
      expect(resource.name).toBe("[guid(resourceGroup().id, parameters('namePrefix'))]");
      expect(module.passed.namePrefix!.value).toBe(
        "[format('workbook-{0}', variables('resourceToken'))]",
      );
      expect(props(resource).category).toBe('workbook');
      expect(props(resource).sourceId).toBe("[parameters('applicationInsightsId')]");
      expect(module.passed.applicationInsightsId!.value).toMatch(
        /'monitoring'.*\.outputs\.applicationInsightsId\.value\]$/,
      );
      expect(module.scope.evaluate(props(resource).displayName!)).toBe(
        'Sendmode connector (infra-test)',
      );
    });

    it('has serializedData that parses as JSON: a time chart of a Logs query for each chart', () => {
      const data = workbookData();
      expect(data.version).toBe('Notebook/1.0');
      expect(data.fallbackResourceIds).toEqual([INSIGHTS_ID]);
      const timeRange = data.items
        .filter((item) => item.type === 9)
        .flatMap((item) => item.content.parameters as JsonObject[])
        .find((parameter) => parameter.name === 'TimeRange');
      expect(timeRange?.type).toBe(4);
      expect(charts(data).map((item) => item.name)).toEqual(Object.keys(CHARTS));
      for (const item of charts(data)) {
        const content = item.content;
        expect(content.version, item.name).toBe('KqlItem/1.0');
        expect(content.queryType, item.name).toBe(0); // Logs
        expect(content.resourceType, item.name).toBe('microsoft.insights/components');
        expect(content.visualization, item.name).toBe('timechart');
        expect(content.timeContextFromParameter, item.name).toBe('TimeRange');
        expect(content.title, item.name).toEqual(expect.any(String));
        const query = content.query as string;
        expect(query, item.name).toMatch(/\| render timechart\n?$/);
        for (const text of CHARTS[item.name]!)
          expect(query, `${item.name}: ${text}`).toContain(text);
      }
    });

    it('draws the budget chart’s limit line at the rate limit', () => {
      const budget = (given: Record<string, Json> = {}) =>
        charts(workbookData(given)).find((item) => item.name === 'budget')!.content.query as string;
      expect(budget()).toMatch(/^let maxCalls = 100;\n/);
      expect(budget({ rateLimitMaxCalls: 40 })).toMatch(/^let maxCalls = 40;\n/);
      expect(mod('workbook').passed.rateLimitMaxCalls!.value).toBe(
        "[parameters('rateLimitMaxCalls')]",
      );
    });

    it('has each chart’s query, and each alert’s as deployed with the defaults, in docs/telemetry-kql.md', () => {
      const doc = readFileSync(join(root, 'docs', 'telemetry-kql.md'), 'utf8');
      const blocks = [...doc.matchAll(/```kusto\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());
      const alerts = mod('alerts');
      const alertQueries = resourcesOf(alerts.scope.template)
        .filter((r) => r.type === 'Microsoft.Insights/scheduledQueryRules')
        .map((r): [string, string] => {
          const criteria = alerts.scope.evaluate(props(r).criteria!) as {
            allOf: { query: string }[];
          };
          return [`alert ${r.name}`, criteria.allOf[0]!.query];
        });
      expect(alertQueries).toHaveLength(6);
      const chartQueries = charts(workbookData()).map((item): [string, string] => [
        `chart ${item.name}`,
        item.content.query as string,
      ]);
      for (const [what, query] of [...chartQueries, ...alertQueries]) {
        expect(blocks, what).toContain(query.trim());
      }
    });
  });

  it('gives the app a user-assigned identity', () => {
    only(mod('identity'), 'Microsoft.ManagedIdentity/userAssignedIdentities');
  });

  describe('role assignments', () => {
    const roleAssignments = (module: Module) => {
      const scope = module.scope;
      return resourcesOf(scope.template)
        .filter((r) => r.type === 'Microsoft.Authorization/roleAssignments')
        .flatMap((r) => {
          const properties = props(r);
          const definition = properties.roleDefinitionId as string;
          expect(definition).toMatch(
            /^\[subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions', variables\('(\w+)'\)(\[copyIndex\(\)\])?\)\]$/,
          );
          const [, variable, copied] = /variables\('(\w+)'\)(\[copyIndex\(\)\])?/.exec(definition)!;
          const roleIds = copied
            ? (scope.variable(variable!) as string[])
            : [scope.variable(variable!) as string];
          return roleIds.map((roleId) => ({
            roleId,
            scope: r.scope as string,
            principalId: scope.evaluate(properties.principalId!),
            principalType: scope.evaluate(properties.principalType!),
          }));
        });
    };
    const named = (roleId: string) =>
      Object.entries(BUILT_IN_ROLES).find(([, id]) => id === roleId)?.[0] ?? `unknown ${roleId}`;

    it('declare only built-in role ids', () => {
      const variables = mod('roles-app').scope.template.variables ?? {};
      const guids = JSON.stringify(variables).match(/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}/g);
      expect(guids).not.toBeNull();
      for (const guid of guids!) expect(Object.values(BUILT_IN_ROLES), guid).toContain(guid);
      // Each id is named in a comment next to it.
      const source = readFileSync(join(root, 'infra', 'modules', 'roles.bicep'), 'utf8');
      for (const [name, id] of Object.entries(BUILT_IN_ROLES)) {
        expect(source).toMatch(new RegExp(`// ${name}:.*\\n.*'${id}'`));
      }
    });

    it('grant the app identity exactly what it needs, on the right resources', () => {
      const module = mod('roles-app');
      expect(module.passed.principalId!.value).toMatch(/'identity'.*\.outputs\.principalId\.value/);
      const granted = roleAssignments(module).map((a) => {
        expect(a.principalType).toBe('ServicePrincipal');
        expect(a.principalId).toBe(UNKNOWN); // the identity's object id, known at deployment
        return [named(a.roleId), /resourceId\('([^']+)'/.exec(a.scope)?.[1]];
      });
      expect(granted.sort()).toEqual(
        [
          ['Key Vault Secrets User', 'Microsoft.KeyVault/vaults'],
          ['Storage Blob Data Owner', 'Microsoft.Storage/storageAccounts'],
          ['Storage Queue Data Contributor', 'Microsoft.Storage/storageAccounts'],
          ['Storage Table Data Contributor', 'Microsoft.Storage/storageAccounts'],
          ['Monitoring Metrics Publisher', 'Microsoft.Insights/components'],
        ].sort(),
      );
    });

    it('grant the deploying user, when principalId is given, the same plus writing secrets', () => {
      const module = mod('roles-user');
      expect(module.resource.condition).toBe("[not(empty(parameters('principalId')))]");
      const user = Scope.root(template, { ...GIVEN, principalId: 'user-object-id' });
      const granted = roleAssignments(user.module('roles-user')).map((a) => {
        expect(a.principalType).toBe('User');
        expect(a.principalId).toBe('user-object-id');
        return named(a.roleId);
      });
      expect(granted.sort()).toEqual(
        [
          'Key Vault Secrets Officer',
          'Storage Blob Data Owner',
          'Storage Queue Data Contributor',
          'Storage Table Data Contributor',
          'Monitoring Metrics Publisher',
        ].sort(),
      );
    });
  });

  describe('the custom connector for Logic Apps', () => {
    type Swagger = {
      info: { title: string; description?: string };
      basePath?: string;
      paths: Record<string, Record<string, { operationId?: string }>>;
      securityDefinitions: Record<string, { type: string; in?: string; name?: string }>;
    } & Record<string, unknown>;
    type ApiProperties = {
      properties: {
        iconBrandColor?: string;
        connectionParameters: Record<string, { type: string; uiDefinition?: Json }>;
      };
    };
    /** The files as they are now (another change may rewrite them: the template follows). */
    const definitionFile = (): Swagger =>
      JSON.parse(
        readFileSync(join(root, 'connector', 'apiDefinition.swagger.json'), 'utf8'),
      ) as Swagger;
    const propertiesFile = (): ApiProperties =>
      JSON.parse(
        readFileSync(join(root, 'connector', 'apiProperties.json'), 'utf8'),
      ) as ApiProperties;
    const operationIds = (swagger: Swagger): string[] =>
      Object.values(swagger.paths)
        .flatMap((path) => Object.entries(path))
        .filter(([method]) => method !== 'parameters')
        .map(([method, operation]) => operation.operationId ?? `(no id: ${method})`)
        .sort();
    const connectorOf = (given: Record<string, Json> = {}): Module =>
      Scope.root(template, { ...GIVEN, ...given }).module('connector');
    const customApi = () => only(mod('connector'), 'Microsoft.Web/customApis');
    const connection = () => only(mod('connector'), 'Microsoft.Web/connections');
    /** reference(...) of the function app the module is given, by name: its default host name. */
    const deployedHost =
      /reference\(resourceId\('Microsoft\.Web\/sites', parameters\('functionAppName'\)\), '[\d-]+(-preview)?'\)\.defaultHostName/;

    it('is a module of the resource group, given the function app the template creates', () => {
      const connector = mod('connector');
      expect(connector.resource.resourceGroup).toBe("[variables('names').resourceGroup]");
      // The same name the function app module creates, and deployed after it (and its roles).
      expect(connector.passed.functionAppName!.value).toBe(mod('functionapp').passed.name!.value);
      const dependsOn = JSON.stringify(connector.resource.dependsOn);
      expect(dependsOn).toContain("'functionapp')");
      expect(dependsOn).toContain("'roles-app')");
      expect(connector.scope.parameter('location')).toBe('westeurope');
      expect(connector.scope.evaluate(customApi().tags as Json)).toEqual({
        'azd-env-name': 'infra-test',
      });
    });

    it('holds a REST custom API made from connector/apiDefinition.swagger.json, loaded whole', () => {
      const api = customApi();
      const scope = mod('connector').scope;
      expect(api.type).toBe('Microsoft.Web/customApis');
      expect(props(api).apiType).toBe('Rest');
      const file = definitionFile();
      // The definition in the template is the file, whatever it holds.
      expect(scope.variable('definition')).toEqual(file);
      const swagger = scope.evaluate(props(api).swagger!) as Swagger;
      expect(operationIds(swagger)).toEqual(operationIds(file));
      expect(operationIds(swagger).length).toBeGreaterThan(5);
      for (const key of Object.keys(file)) {
        if (key === 'host' || key === 'schemes') continue;
        expect(swagger[key], key).toEqual(file[key]);
      }
      // Named and described as the definition is; coloured as connector/apiProperties.json says.
      expect(scope.evaluate(props(api).displayName!)).toBe(file.info.title);
      // The description is optional in Swagger 2.0: empty when the file has none.
      expect(props(api).description).toBe(
        "[coalesce(tryGet(variables('definition').info, 'description'), '')]",
      );
      expect(scope.evaluate(props(api).brandColor!)).toBe(
        propertiesFile().properties.iconBrandColor,
      );
    });

    it('points at the deployed app: host is its default host name, HTTPS only, <host>/api behind', () => {
      const api = customApi();
      // Only host and schemes are replaced; everything else is the file's.
      expect(props(api).swagger).toMatch(
        new RegExp(
          `^\\[union\\(variables\\('definition'\\), createObject\\('host', ${deployedHost.source}, 'schemes', createArray\\('https'\\)\\)\\)\\]$`,
        ),
      );
      const serviceUrl = (props(api).backendService as JsonObject).serviceUrl as string;
      expect(serviceUrl).toMatch(/^\[format\('https:\/\/\{0\}\{1\}', /);
      expect(serviceUrl).toMatch(deployedHost);
      expect(serviceUrl).toContain("tryGet(variables('definition'), 'basePath')");
      expect(definitionFile().basePath).toBe('/api');
      expect(readFileSync(join(root, 'infra', 'modules', 'connector.bicep'), 'utf8')).toContain(
        "loadJsonContent('../../connector/apiDefinition.swagger.json')",
      );
    });

    it("asks for the function key as the definition's security says: api_key, a securestring", () => {
      const file = definitionFile();
      const parameters = props(customApi()).connectionParameters as Record<string, JsonObject>;
      expect(Object.keys(parameters)).toEqual(Object.keys(file.securityDefinitions));
      expect(file.securityDefinitions.api_key).toMatchObject({
        type: 'apiKey',
        in: 'header',
        name: 'x-functions-key',
      });
      expect(parameters.api_key!.type).toBe('securestring');
      expect(propertiesFile().properties.connectionParameters.api_key?.type).toBe('securestring');
      // The designer's labels, from connector/apiProperties.json.
      const uiDefinition = propertiesFile().properties.connectionParameters.api_key?.uiDefinition;
      expect(uiDefinition).toMatchObject({ displayName: expect.any(String) as unknown });
      expect(mod('connector').scope.evaluate(parameters.api_key!.uiDefinition!)).toEqual(
        uiDefinition,
      );
    });

    it('creates the connection to it when deployLogicAppsConnection is true (the default), not when false', () => {
      expect(template.parameters?.deployLogicAppsConnection).toMatchObject({
        type: 'bool',
        defaultValue: true,
      });
      expect(mod('connector').passed.deployConnection!.value).toBe(
        "[parameters('deployLogicAppsConnection')]",
      );
      const resource = connection();
      expect(resource.condition).toBe("[parameters('deployConnection')]");
      const condition = (given: Record<string, Json>) =>
        connectorOf(given).scope.evaluate(resource.condition as Json);
      expect(condition({})).toBe(true);
      expect(condition({ deployLogicAppsConnection: true })).toBe(true);
      expect(condition({ deployLogicAppsConnection: false })).toBe(false);
      // It is a connection to the custom API above.
      expect((props(resource).api as JsonObject).id).toBe(
        "[resourceId('Microsoft.Web/customApis', parameters('customApiName'))]",
      );
      // Without it, its outputs are empty; the custom API is there either way.
      const outputs = mod('connector').scope.template.outputs!;
      const without = connectorOf({ deployLogicAppsConnection: false }).scope;
      expect(without.evaluate(outputs.connectionName!.value)).toBe('');
      expect(without.evaluate(outputs.connectionId!.value)).toBe('');
      expect(customApi().condition).toBeUndefined();
      // azd: `azd env set DEPLOY_LOGIC_APPS_CONNECTION false` skips it.
      const file = JSON.parse(
        readFileSync(join(root, 'infra', 'main.parameters.json'), 'utf8'),
      ) as { parameters: Record<string, { value: string }> };
      expect(file.parameters.deployLogicAppsConnection?.value).toBe(
        '${DEPLOY_LOGIC_APPS_CONNECTION=true}',
      );
    });

    it("holds the app's default host key in the connection's parameterValues, and nowhere else", () => {
      const parameterValues = props(connection()).parameterValues as JsonObject;
      expect(Object.keys(parameterValues)).toEqual(['api_key']);
      expect(parameterValues.api_key).toMatch(
        /^\[listKeys\(format\('\{0\}\/host\/default', resourceId\('Microsoft\.Web\/sites', parameters\('functionAppName'\)\)\), '[\d-]+'\)\.functionKeys\.default\]$/,
      );
      // The one key read in the whole template: not passed to the module, not in any output.
      expect(JSON.stringify(template).match(/list[A-Z]?\w*\(/gi)).toHaveLength(1);
      expect(JSON.stringify(mod('connector').passed)).not.toMatch(/list\w*\(|functionKeys/i);
      for (const [path, name, output] of allOutputs(template)) {
        expect(JSON.stringify(output.value), `${path}.${name}`).not.toMatch(
          /functionKeys|parameterValues|host\/default/i,
        );
      }
    });

    it("outputs the custom API's and the connection's names and ids", () => {
      const outputs = template.outputs ?? {};
      const fromModule = (output: string) =>
        new RegExp(`'connector'.*\\.outputs\\.${output}\\.value\\]$`);
      expect(outputs.AZURE_LOGIC_APPS_CUSTOM_API_NAME?.value).toMatch(fromModule('customApiName'));
      expect(outputs.AZURE_LOGIC_APPS_CUSTOM_API_ID?.value).toMatch(fromModule('customApiId'));
      expect(outputs.AZURE_LOGIC_APPS_CONNECTION_NAME?.value).toMatch(fromModule('connectionName'));
      expect(outputs.AZURE_LOGIC_APPS_CONNECTION_ID?.value).toMatch(fromModule('connectionId'));
      const moduleOutputs = mod('connector').scope.template.outputs!;
      for (const output of Object.values(moduleOutputs)) expect(output.type).toBe('string');
      expect(moduleOutputs.customApiId!.value).toBe(
        "[resourceId('Microsoft.Web/customApis', parameters('customApiName'))]",
      );
      expect(moduleOutputs.connectionId!.value).toBe(
        "[if(parameters('deployConnection'), resourceId('Microsoft.Web/connections', parameters('connectionName')), '')]",
      );
      // Named like the other resources, by the environment's token.
      expect(mod('connector').passed.customApiName!.value).toBe("[variables('names').customApi]");
      expect(mod('connector').passed.connectionName!.value).toBe(
        "[variables('names').apiConnection]",
      );
      expect(template.variables?.names).toMatchObject({
        customApi: "[format('capi-sendmode-{0}', variables('resourceToken'))]",
        apiConnection: "[format('con-sendmode-{0}', variables('resourceToken'))]",
      });
    });
  });

  describe('secrets', () => {
    it('are secure parameters, with no default but empty', () => {
      for (const param of SECRET_PARAMS) {
        expect(template.parameters?.[param]).toMatchObject({
          type: 'securestring',
          defaultValue: '',
        });
        expect(mod('keyvault').scope.template.parameters?.[param]).toMatchObject({
          type: 'securestring',
        });
      }
      // Nothing else that looks like a secret is a plain parameter.
      for (const [name, param] of Object.entries(template.parameters ?? {})) {
        if (/secret|password|apikey$/i.test(name) && !/SecretName$/.test(name)) {
          expect(param.type, name).toBe('securestring');
        }
      }
    });

    it('never reach an output, in main or any module', () => {
      const outputs = allOutputs(template);
      expect(outputs.length).toBeGreaterThan(10);
      for (const [path, name, output] of outputs) {
        // A secret's name is not a secret (WEBHOOK_SIGNING_SECRET_NAME, for the hook).
        const text = `${name} ${JSON.stringify(output.value)}`.replace(
          /SECRET_NAME|SecretName'/g,
          '',
        );
        expect(text, `${path}.${name}`).not.toMatch(
          /sendmodeApiKey'|webhookSigningSecret'|listKeys|list[A-Z]\w*\(|secret/i,
        );
        expect(output.type, `${path}.${name}`).not.toMatch(/^secure/i);
      }
      for (const [name, output] of Object.entries(template.outputs ?? {})) {
        expect(`${name} ${JSON.stringify(output.value)}`, name).not.toMatch(/connectionString/i);
      }
    });
  });

  it('outputs the names and addresses a deployer needs', () => {
    const outputs = template.outputs ?? {};
    const value = (name: string) => outputs[name]?.value;
    expect(value('AZURE_FUNCTION_APP_NAME')).toMatch(/'functionapp'.*\.outputs\.name\.value/);
    expect(value('SERVICE_API_NAME')).toMatch(/'functionapp'.*\.outputs\.name\.value/);
    expect(value('AZURE_FUNCTION_APP_HOSTNAME')).toMatch(/'functionapp'.*outputs\.defaultHostName/);
    expect(value('AZURE_KEY_VAULT_URI')).toMatch(/'keyvault'.*\.outputs\.uri\.value/);
    expect(value('AZURE_STORAGE_ACCOUNT_NAME')).toMatch(/'storage'.*\.outputs\.name\.value/);
    expect(value('AZURE_FUNCTION_IDENTITY_CLIENT_ID')).toMatch(/'identity'.*outputs\.clientId/);
    expect(value('AZURE_RESOURCE_GROUP')).toBeDefined();
    expect(value('AZURE_KEY_VAULT_NAME')).toMatch(/'keyvault'.*\.outputs\.name\.value/);
  });

  it('outputs, for the postprovision hook, whether signatures are required and the secret name', () => {
    const outputs = template.outputs ?? {};
    const output = (name: string, given: Record<string, Json> = {}) =>
      Scope.root(template, { ...GIVEN, ...given }).evaluate(outputs[name]!.value);
    expect(outputs.WEBHOOK_SIGNATURE_REQUIRED?.type).toBe('bool');
    expect(output('WEBHOOK_SIGNATURE_REQUIRED')).toBe(true);
    expect(output('WEBHOOK_SIGNATURE_REQUIRED', { requireWebhookSignature: false })).toBe(false);
    expect(
      output('WEBHOOK_SIGNATURE_REQUIRED', {
        requireWebhookSignature: false,
        webhookSigningSecret: 'whsec_c2VjcmV0',
      }),
    ).toBe(true);
    // The name only (the parameter), the same the app setting carries; never the value.
    expect(outputs.WEBHOOK_SIGNING_SECRET_NAME?.value).toBe(
      "[parameters('webhookSigningSecretName')]",
    );
    expect(outputs.WEBHOOK_SIGNING_SECRET_NAME?.type).toBe('string');
    expect(output('WEBHOOK_SIGNING_SECRET_NAME', { webhookSigningSecretName: 'hooks' })).toBe(
      'hooks',
    );
    expect(
      evaluatedSettings({ webhookSigningSecretName: 'hooks' }).WEBHOOK_SIGNING_SECRET_NAME,
    ).toBe('hooks');
  });

  it('has an azd parameters file naming only declared, non-secret parameters', () => {
    const file = JSON.parse(readFileSync(join(root, 'infra', 'main.parameters.json'), 'utf8')) as {
      parameters: Record<string, { value: string }>;
    };
    expect(file.parameters.environmentName?.value).toBe('${AZURE_ENV_NAME}');
    expect(file.parameters.location?.value).toBe('${AZURE_LOCATION}');
    expect(file.parameters.principalId?.value).toBe('${AZURE_PRINCIPAL_ID}');
    // Signed by default; `azd env set REQUIRE_WEBHOOK_SIGNATURE false` chooses unsigned.
    expect(file.parameters.requireWebhookSignature?.value).toBe(
      '${REQUIRE_WEBHOOK_SIGNATURE=true}',
    );
    expect(file.parameters.appServiceAuthEnabled?.value).toBe('${APP_SERVICE_AUTH_ENABLED=false}');
    // `azd env set SEND_MERGE off` sends each queued send in its own call.
    expect(file.parameters.sendMerge?.value).toBe('${SEND_MERGE=on}');
    // `azd env set DELIVERY_REPORTS on` once Sendmode posts reports; ALERT_EMAIL for alert mail.
    expect(file.parameters.deliveryReports?.value).toBe('${DELIVERY_REPORTS=off}');
    expect(file.parameters.alertEmail?.value).toBe('${ALERT_EMAIL=}');
    for (const name of Object.keys(file.parameters)) {
      expect(template.parameters, name).toHaveProperty(name);
      expect(SECRET_PARAMS).not.toContain(name);
    }
  });
});

/**
 * The deployment package azd ships (azure.yaml: the prepackage hook scripts/package-app.sh, then
 * `dist: .tools/package`), built for real into a temporary folder: the esbuild bundle, host.json
 * and package.json, with no node_modules and no import left that the bundle does not hold.
 */
describe('the deployment package (scripts/package-app.sh, as azd runs it)', () => {
  let stage: string;
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory()
        ? files(join(dir, entry.name)).map((file) => `${entry.name}/${file}`)
        : [entry.name],
    );

  beforeAll(() => {
    stage = mkdtempSync(join(tmpdir(), 'package-app-'));
    execFileSync('bash', [join(root, 'scripts', 'package-app.sh')], {
      cwd: root,
      env: { ...process.env, PACKAGE_DIR: stage },
      stdio: 'pipe',
    });
  }, 120_000);
  afterAll(() => {
    if (stage) rmSync(stage, { recursive: true, force: true });
  });

  it('is what azure.yaml deploys: the folder the prepackage hook builds, not built remotely', () => {
    const yaml = readFileSync(join(root, 'azure.yaml'), 'utf8');
    expect(yaml).toMatch(/^\s+dist: \.tools\/package$/m);
    expect(yaml).toMatch(/^\s+remoteBuild: false$/m);
    expect(yaml.match(/run: bash scripts\/package-app\.sh$/gm)).toHaveLength(2);
  });

  it('holds the bundle, host.json and package.json only: no node_modules, no sources', () => {
    const all = files(stage);
    expect(all).toContain('host.json');
    expect(all).toContain('package.json');
    expect(all).toContain('dist/app/main.js');
    for (const file of all) {
      expect(file).toMatch(/^(host\.json|package\.json|dist\/app\/[\w-]+\.js(\.map)?)$/);
    }
    expect(existsSync(join(stage, 'node_modules'))).toBe(false);
    expect(readFileSync(join(stage, 'host.json'), 'utf8')).toBe(
      readFileSync(join(root, 'host.json'), 'utf8'),
    );
  });

  it('has a package.json whose main is the bundle, as an ES module, with no dependencies', () => {
    const manifest = JSON.parse(readFileSync(join(stage, 'package.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    const source = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(manifest.main).toBe('dist/app/main.js');
    expect(source.main).toBe(manifest.main); // the local host and npm start run the same file
    expect(manifest.type).toBe('module');
    expect(manifest).not.toHaveProperty('dependencies');
    expect(manifest).not.toHaveProperty('devDependencies');
  });

  it('bundles every functions/*.ts module, found at build time', () => {
    const map = JSON.parse(readFileSync(join(stage, 'dist/app/main.js.map'), 'utf8')) as {
      sources: string[];
    };
    const bundled = map.sources;
    const modules = readdirSync(join(root, 'functions')).filter((f) => f.endsWith('.ts'));
    expect(modules.length).toBeGreaterThan(5);
    for (const module of modules) expect(bundled, module).toContain(`functions/${module}`);
  });

  it('imports nothing from outside the bundle but Node built-ins and @azure/functions-core', () => {
    const specifiers = new Set<string>();
    for (const file of files(join(stage, 'dist/app')).filter((f) => f.endsWith('.js'))) {
      const code = readFileSync(join(stage, 'dist/app', file), 'utf8');
      // The forms esbuild writes a specifier it did not bundle in: a static import (one line, or
      // the closing line of a multi-line one), a dynamic import() and its CommonJS __require().
      const pattern =
        /^(?:import|export|\})\b[^;\n]*?(?:from\s*)?"([^"]+)";$|\bimport\("([^"]+)"\)|\b__require\("([^"]+)"\)/gm;
      for (const match of code.matchAll(pattern)) {
        specifiers.add((match[1] ?? match[2] ?? match[3])!);
      }
    }
    const outside = [...specifiers].filter(
      (specifier) =>
        !specifier.startsWith('./') && !specifier.startsWith('node:') && !isBuiltin(specifier),
    );
    expect(specifiers.size).toBeGreaterThan(10);
    expect(outside).toEqual(['@azure/functions-core']);
  });

  it('loads only @azure/functions at import: the handlers, zod, undici and the SDKs on first use', () => {
    // The files main.js imports statically, transitively: what every cold start reads.
    const eager = new Set<string>();
    const visit = (file: string) => {
      if (eager.has(file)) return;
      eager.add(file);
      const code = readFileSync(join(stage, 'dist/app', file), 'utf8');
      for (const match of code.matchAll(
        /(?:^|[;}])\s*import\s*(?:[^"'();]*?from\s*)?"\.\/([\w-]+\.js)"/g,
      )) {
        visit(match[1]!);
      }
    };
    visit('main.js');
    const packages = new Set<string>();
    const appSources = new Set<string>();
    for (const file of eager) {
      const map = JSON.parse(readFileSync(join(stage, 'dist/app', `${file}.map`), 'utf8')) as {
        sources: string[];
      };
      for (const source of map.sources) {
        // A dependency's own source map may name its sources webpack://<package>/...
        const match = /(?:node_modules\/|^webpack:\/\/)((?:@[^/]+\/)?[^/]+)\//.exec(source);
        if (match) packages.add(match[1]!);
        else if (/^(functions|shared)\//.test(source)) appSources.add(source);
      }
    }
    expect(eager.size).toBeGreaterThan(1);
    expect([...packages].sort()).toEqual(
      ['@azure/functions', '@azure/functions-extensions-base', 'cookie'].sort(),
    );
    // The registrations and what they need; the handlers' bodies (functions/handlers/) are chunks.
    const modules = readdirSync(join(root, 'functions')).filter((f) => f.endsWith('.ts'));
    expect([...appSources].sort()).toEqual(
      [
        ...modules.map((module) => `functions/${module}`),
        'shared/lazy-handler.ts',
        'shared/queue-names.ts',
        'shared/setting-aliases.ts',
        // One environment read; the exporter is a chunk loaded only when configured.
        'shared/telemetry/start.ts',
      ].sort(),
    );
  });

  it('has a source map for every file, mapping bundled code back to its .ts source', () => {
    const js = files(join(stage, 'dist/app')).filter((f) => f.endsWith('.js'));
    for (const file of js) {
      const code = readFileSync(join(stage, 'dist/app', file), 'utf8');
      expect(code, file).toMatch(new RegExp(`//# sourceMappingURL=${file}\\.map\\s*$`));
      expect(existsSync(join(stage, 'dist/app', `${file}.map`)), file).toBe(true);
    }
    const code = readFileSync(join(stage, 'dist/app/main.js'), 'utf8').split('\n');
    const line = code.findIndex((text) => /\.app\.http\("send-sms"/.test(text));
    expect(line).toBeGreaterThan(0);
    const map = new SourceMap(
      JSON.parse(readFileSync(join(stage, 'dist/app/main.js.map'), 'utf8')) as SourceMapPayload,
    );
    // The bundle is minified: several registrations can share a line, so find send-sms's own.
    const column = code[line]!.indexOf('app.http("send-sms"');
    const entry = map.findEntry(line, column) as { originalSource?: string; originalLine?: number };
    expect(entry.originalSource).toMatch(/(^|\/)functions\/send-sms\.ts$/);
    const source = readFileSync(join(root, 'functions/send-sms.ts'), 'utf8').split('\n');
    expect(source[entry.originalLine!]).toContain("app.http('send-sms'");
  });
});
