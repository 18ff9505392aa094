// Everything the Sendmode connector needs, in one resource group: a Flex Consumption function app
// with a user-assigned identity, its storage account (queues, tables, deployment package), a Key
// Vault for the API key, and Log Analytics + Application Insights. No keys or connection strings:
// every data-plane call uses the app's identity, granted only the roles it needs (roles.bicep).
// Deploy with `azd up`, or see docs/deploy.md for `az deployment sub create`.
targetScope = 'subscription'

// ---- Environment -------------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; seeds resource names and the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Region of every resource: one that offers the Flex Consumption plan.')
@metadata({ azd: { type: 'location' } })
param location string

@description('Resource group to create; default rg-<environmentName>.')
param resourceGroupName string = ''

@description('Object id of a person (or group) to grant the same data roles as the app, plus writing secrets, for local debugging against the cloud resources. Empty grants nothing.')
param principalId string = ''

@description('Kind of principalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param principalType string = 'User'

// ---- Secrets (written to Key Vault only when given; never app settings, never outputs) ---------

@secure()
@description('The Sendmode API key. Empty leaves the vault secret as it is: set it with `az keyvault secret set` instead.')
param sendmodeApiKey string = ''

@secure()
@description('Webhook signing secret (whsec_<base64> or a plain string). Given, it is stored (a new version) and signatures are required. Empty leaves the vault secret as it is; azd\'s postprovision hook creates one when it is absent.')
param webhookSigningSecret string = ''

@description('Vault secret name of the Sendmode API key (SENDMODE_API_KEY_SECRET_NAME).')
param sendmodeApiKeySecretName string = 'sendmode-api-key'

@description('Vault secret name of the webhook signing secret (WEBHOOK_SIGNING_SECRET_NAME).')
param webhookSigningSecretName string = 'webhook-signing-secret'

@description('Require signed webhooks (the default): WEBHOOK_SIGNING_SECRET_NAME names the vault secret, which azd\'s postprovision hook (scripts/ensure-webhook-secret.sh) creates when absent. false (REQUIRE_WEBHOOK_SIGNATURE=false): the function key alone protects /api/optout, unless webhookSigningSecret is given.')
param requireWebhookSignature bool = true

// ---- Settings users tune (each becomes the app setting of the same meaning) --------------------

@description('Sendmode API generation: v2, or v3 for accounts on Sendmode Engage (3.0); see "Which Sendmode API?" in the README (SENDMODE_API_VERSION).')
@allowed([
  'v2'
  'v3'
])
param sendmodeApiVersion string = 'v2'

@description('Sendmode API base URL; empty for the chosen generation\'s public URL (SENDMODE_BASE_URL).')
param sendmodeBaseUrl string = ''

@description('Sender id used when a send names none; required for v3 unless every send names one. 1-11 letters or digits, or up to 15 digits; empty for none (DEFAULT_SENDER_ID).')
@maxLength(15)
param defaultSenderId string = ''

@description('Partition of the shared rate limit: apps sharing one Sendmode account must share it (SENDMODE_ACCOUNT_NAME).')
param sendmodeAccountName string = 'default'

@minValue(100)
@maxValue(120000)
@description('Time to connect to Sendmode, ms (SENDMODE_CONNECT_TIMEOUT_MS).')
param sendmodeConnectTimeoutMs int = 5000

@minValue(100)
@maxValue(300000)
@description('Time for Sendmode to start answering, ms (SENDMODE_HEADERS_TIMEOUT_MS).')
param sendmodeHeadersTimeoutMs int = 15000

@minValue(100)
@maxValue(300000)
@description('Time between chunks of Sendmode\'s answer, ms (SENDMODE_BODY_TIMEOUT_MS).')
param sendmodeBodyTimeoutMs int = 15000

@minValue(1)
@maxValue(256)
@description('Keep-alive connections to Sendmode per instance (SENDMODE_MAX_CONNECTIONS).')
param sendmodeMaxConnections int = 10

@minValue(0)
@maxValue(86400)
@description('Seconds a secret read from the vault is used before it is read again (API_KEY_CACHE_TTL_SECONDS).')
param apiKeyCacheTtlSeconds int = 300

@minValue(1)
@maxValue(1000)
@description('Calls to Sendmode allowed in one window, across all instances (RATE_LIMIT_MAX_CALLS).')
param rateLimitMaxCalls int = 100

@minValue(1)
@maxValue(3600)
@description('The rolling window, seconds (RATE_LIMIT_WINDOW_SECONDS).')
param rateLimitWindowSeconds int = 60

@minValue(0)
@maxValue(60000)
@description('Added to the window for clock skew and transit, ms (RATE_LIMIT_SAFETY_MARGIN_MS).')
param rateLimitSafetyMarginMs int = 1000

@minValue(0)
@maxValue(60)
@description('How long an HTTP call may wait for a slot before 429, seconds (RATE_LIMIT_MAX_WAIT_SECONDS).')
param rateLimitMaxWaitSeconds int = 5

@minValue(0)
@maxValue(999)
@description('Calls of every window kept for HTTP callers; background work uses the rest (RATE_LIMIT_INTERACTIVE_RESERVE). Default: a fifth of the limit.')
param rateLimitInteractiveReserve int = rateLimitMaxCalls / 5

@minValue(0)
@maxValue(60000)
@description('How late a queue message may come back and still use the slot reserved for it, ms (RATE_LIMIT_RESERVATION_TOLERANCE_MS).')
param rateLimitReservationToleranceMs int = 3000

@minValue(900)
@maxValue(604800)
@description('How long a send\'s outcome is replayed for its Idempotency-Key, seconds (IDEMPOTENCY_TTL_SECONDS); at least 900, past the 10-minute in-flight guard.')
param idempotencyTtlSeconds int = 86400

@minValue(3600)
@maxValue(7776000)
@description('How long a queued send\'s status can be looked up (GET /api/sms/{id} and its status URL), from when it was queued, seconds (SEND_STATUS_TTL_SECONDS); 1 hour to 90 days.')
param sendStatusTtlSeconds int = 604800

@description('Merged calls: queued sends of one text (same sender id, schedule and customerid) share one Sendmode call, up to sendMaxRecipientsPerCall recipients; off sends each queued send in its own call (SEND_MERGE).')
@allowed([
  'on'
  'off'
])
param sendMerge string = 'on'

@minValue(0)
@maxValue(10000)
@description('How long a queued send of a busy text (its last call less than this long ago) waits for others of the same text to share its call, ms; a send of an idle text goes at once; 0 never waits (SEND_MERGE_WINDOW_MS).')
param sendMergeWindowMs int = 2000

@minValue(1)
@maxValue(1000)
@description('Most recipients one merged call carries (SEND_MAX_RECIPIENTS_PER_CALL); at most 1000, what one Sendmode call takes.')
param sendMaxRecipientsPerCall int = 1000

@description('on once Sendmode\'s account setting "Post Delivery Reports to URL" points at /api/delivery-reports: sends that go unreported or undelivered then raise a warning on /api/health and the status page (DELIVERY_REPORTS).')
@allowed([
  'on'
  'off'
])
param deliveryReports string = 'off'

@minValue(1)
@maxValue(100)
@description('The delivered-ratio alert fires when fewer than this percentage of an hour\'s final delivery reports are DELIVRD.')
param deliveredAlertPercent int = 50

@description('E-mail address told when an alert fires; empty: alerts show in Azure Monitor only.')
param alertEmail string = ''

@minValue(1)
@description('The poison alert fires when at least this many queue messages are poisoned in 15 minutes.')
param poisonedAlertCount int = 1

@minValue(1)
@description('The key alert fires when Sendmode refuses the API key on at least this many calls in 15 minutes.')
param keyRefusedAlertCount int = 1

@minValue(1)
@maxValue(100)
@description('The failing alert fires when more than this percentage of 15 minutes\' Sendmode calls failed or were throttled (and at least failingAlertMinimumCalls were made).')
param failingAlertPercent int = 10

@minValue(1)
@description('The failing alert looks at the failing share only when at least this many Sendmode calls were made in the 15 minutes.')
param failingAlertMinimumCalls int = 20

@minValue(5)
@maxValue(50)
@description('The budget alert fires when the shared limit stays exhausted (window full, or work held back) this many consecutive minutes.')
param budgetAlertMinutes int = 30

@minValue(1)
@maxValue(1000)
@description('Admitted calls in the window that the budget alert counts as the limit reached. Default: the limit; background work alone reaches rateLimitMaxCalls - rateLimitInteractiveReserve.')
param budgetAlertCalls int = rateLimitMaxCalls

@minValue(1)
@description('The dependency alert fires when at least this many invocations in 10 minutes failed because Key Vault or Storage was unavailable.')
param dependencyAlertCount int = 5

@minValue(1)
@maxValue(10080)
@description('Minutes after which a send without any delivery report counts as unreported (DELIVERY_REPORT_EXPECTED_MINUTES).')
param deliveryReportExpectedMinutes int = 30

@minValue(1)
@maxValue(1000)
@description('How many of the latest sends old enough to be reported the "nothing delivered" warning looks at (DELIVERY_REPORT_WATCH_SENDS).')
param deliveryReportWatchSends int = 20

@minValue(1)
@maxValue(3600)
@description('First retry delay of a queue message, seconds; doubles each attempt (QUEUE_RETRY_BASE_SECONDS).')
param queueRetryBaseSeconds int = 30

@minValue(1)
@maxValue(86400)
@description('Longest retry delay of a queue message, seconds (QUEUE_RETRY_MAX_SECONDS).')
param queueRetryMaxSeconds int = 3600

@description('Words that opt out, comma or space separated (OPT_OUT_KEYWORDS).')
param optOutKeywords string = 'STOP,STOPALL,UNSUBSCRIBE,CANCEL,END,QUIT,OPTOUT'

@description('Words that opt a number back in, comma or space separated (OPT_IN_KEYWORDS).')
param optInKeywords string = 'START,UNSTOP,SUBSCRIBE,YES'

@description('The country national numbers (087 123 4567) are read in: a region such as IE or GB, or a calling code such as 353; they are then checked and sent in international form, and match it on the suppression list. Empty: national numbers pass unchecked, as written (DEFAULT_COUNTRY_CODE).')
param defaultCountryCode string = ''

@description('Accept valid numbers that cannot receive SMS (fixed lines, toll-free, premium-rate numbers); false refuses them before any Sendmode call (ALLOW_NON_MOBILE_NUMBERS).')
param allowNonMobileNumbers bool = false

@description('Smart encoding: curly quotes, long dashes, ellipses and special spaces are replaced with GSM-7 look-alikes when that keeps a text GSM-7 (fewer SMS parts); off sends every text exactly as given (SMART_ENCODING).')
@allowed([
  'on'
  'off'
])
param smartEncoding string = 'on'

@description('App Service authentication (Easy Auth) is enabled on the function app, so x-ms-client-principal-name can be trusted (APP_SERVICE_AUTH_ENABLED). This template does not configure it: set true only once it is. Easy Auth that requires sign-in must exclude the anonymous routes, the queued sends\' status URLs (/api/sms/*) among them: see docs/deploy.md.')
param appServiceAuthEnabled bool = false

// ---- The connector for Logic Apps (connector.bicep) ---------------------------------------------

@description('Create an API connection to the custom connector, holding the function app\'s default host key, so a Logic App in the resource group can use the connector at once (DEPLOY_LOGIC_APPS_CONNECTION). false creates the custom connector only. The key is read at deployment and never output.')
param deployLogicAppsConnection bool = true

// ---- Capacity ----------------------------------------------------------------------------------

@allowed([
  512
  2048
  4096
])
@description('Memory of each function app instance, MB.')
param instanceMemoryMB int = 2048

@minValue(1)
@maxValue(1000)
@description('Most instances the function app scales out to. 100 Sendmode calls a minute keep one instance far from busy; more instances only wait on the same limit (README: Scale-out).')
param maximumInstanceCount int = 10

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
@description('Storage account redundancy.')
param storageSkuName string = 'Standard_LRS'

// ---- Names -------------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var names = {
  resourceGroup: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  identity: 'id-api-${resourceToken}'
  logAnalytics: 'log-${resourceToken}'
  applicationInsights: 'appi-${resourceToken}'
  storage: 'st${resourceToken}'
  keyVault: 'kv-${resourceToken}'
  plan: 'plan-${resourceToken}'
  functionApp: 'func-api-${resourceToken}'
  deploymentContainer: 'app-package-${resourceToken}'
  customApi: 'capi-sendmode-${resourceToken}'
  apiConnection: 'con-sendmode-${resourceToken}'
}

// The queues and tables the app uses (defaults of the settings of the same names).
var sendQueueName = 'sms-outbox'
var importQueueName = 'customer-imports'
var optOutQueueName = 'optout-sync'
var rateLimitTableName = 'ratelimits'
var idempotencyTableName = 'idempotency'
var suppressionTableName = 'optouts'
var webhookIdsTableName = 'webhookids'
var optOutAuditTableName = 'optoutaudit'
var sendStatusTableName = 'sendstatus'
var sendMergeTableName = 'sendmerge'
var deliveryTableName = 'deliveries'
var historyTableName = 'history'
var subscriptionTableName = 'subscriptions'
var eventQueueName = 'event-deliveries'

var requireSignature = requireWebhookSignature || !empty(webhookSigningSecret)

// ---- Resources ---------------------------------------------------------------------------------

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: names.resourceGroup
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: names.identity
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
    location: location
    tags: tags
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    namePrefix: 'alert-${resourceToken}'
    deliveredPercentThreshold: deliveredAlertPercent
    poisonedThreshold: poisonedAlertCount
    keyRefusedThreshold: keyRefusedAlertCount
    failingPercentThreshold: failingAlertPercent
    failingMinimumCalls: failingAlertMinimumCalls
    budgetMinutes: budgetAlertMinutes
    budgetCalls: budgetAlertCalls
    dependencyUnavailableThreshold: dependencyAlertCount
    alertEmail: alertEmail
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    namePrefix: 'workbook-${resourceToken}'
    displayName: 'Sendmode connector (${environmentName})'
    rateLimitMaxCalls: rateLimitMaxCalls
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: names.storage
    location: location
    tags: tags
    skuName: storageSkuName
    deploymentContainerName: names.deploymentContainer
    queueNames: [
      sendQueueName
      '${sendQueueName}-poison'
      importQueueName
      '${importQueueName}-poison'
      optOutQueueName
      '${optOutQueueName}-poison'
      eventQueueName
      '${eventQueueName}-poison'
    ]
    tableNames: [
      rateLimitTableName
      idempotencyTableName
      suppressionTableName
      webhookIdsTableName
      optOutAuditTableName
      sendStatusTableName
      sendMergeTableName
      deliveryTableName
      historyTableName
      subscriptionTableName
    ]
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: names.keyVault
    location: location
    tags: tags
    sendmodeApiKeySecretName: sendmodeApiKeySecretName
    sendmodeApiKey: sendmodeApiKey
    webhookSigningSecretName: webhookSigningSecretName
    webhookSigningSecret: webhookSigningSecret
  }
}

module appRoles 'modules/roles.bicep' = {
  name: 'roles-app'
  scope: rg
  params: {
    // The identity's object id is known only once it exists, so What-If cannot predict these
    // assignments' names; it is in the names so that a recreated identity gets new assignments.
    #disable-next-line what-if-short-circuiting
    principalId: identity.outputs.principalId
    principalType: 'ServicePrincipal'
    keyVaultName: names.keyVault
    storageAccountName: names.storage
    applicationInsightsName: names.applicationInsights
  }
  dependsOn: [
    keyVault
    storage
    monitoring
  ]
}

module userRoles 'modules/roles.bicep' = if (!empty(principalId)) {
  name: 'roles-user'
  scope: rg
  params: {
    principalId: principalId
    principalType: principalType
    manageSecrets: true
    keyVaultName: names.keyVault
    storageAccountName: names.storage
    applicationInsightsName: names.applicationInsights
  }
  dependsOn: [
    keyVault
    storage
    monitoring
  ]
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    tags: tags
    identityId: identity.outputs.id
    blobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    // Every setting shared/settings.ts reads, except the local-only ones: SENDMODE_API_KEY and
    // WEBHOOK_SIGNING_SECRET (the secrets live in the vault) and the AzureWebJobsStorage
    // connection string (replaced by the identity-based AzureWebJobsStorage__* settings).
    // An empty value means "not set" to the app, so its default applies.
    appSettings: {
      // The Functions host and the app: storage through the user-assigned identity.
      AzureWebJobsStorage__accountName: storage.outputs.name
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identity.outputs.clientId
      AzureWebJobsStorage__blobServiceUri: storage.outputs.blobEndpoint
      AzureWebJobsStorage__queueServiceUri: storage.outputs.queueEndpoint
      AzureWebJobsStorage__tableServiceUri: storage.outputs.tableEndpoint
      // DefaultAzureCredential (Key Vault) picks the user-assigned identity by this.
      AZURE_CLIENT_ID: identity.outputs.clientId
      // Telemetry with Entra ID authentication (local auth is off on the component).
      APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.outputs.clientId};Authorization=AAD'
      // The app is one esbuild bundle (scripts/package-app.sh): Node's own option maps its stack
      // traces back to the TypeScript sources through the shipped .js.map files.
      NODE_OPTIONS: '--enable-source-maps'
      // Sendmode and the vault.
      SENDMODE_API_VERSION: sendmodeApiVersion
      SENDMODE_BASE_URL: sendmodeBaseUrl
      DEFAULT_SENDER_ID: defaultSenderId
      SENDMODE_ACCOUNT_NAME: sendmodeAccountName
      SENDMODE_CONNECT_TIMEOUT_MS: string(sendmodeConnectTimeoutMs)
      SENDMODE_HEADERS_TIMEOUT_MS: string(sendmodeHeadersTimeoutMs)
      SENDMODE_BODY_TIMEOUT_MS: string(sendmodeBodyTimeoutMs)
      SENDMODE_MAX_CONNECTIONS: string(sendmodeMaxConnections)
      KEY_VAULT_URI: keyVault.outputs.uri
      SENDMODE_API_KEY_SECRET_NAME: sendmodeApiKeySecretName
      API_KEY_CACHE_TTL_SECONDS: string(apiKeyCacheTtlSeconds)
      WEBHOOK_SIGNING_SECRET_NAME: requireSignature ? webhookSigningSecretName : ''
      // The shared rate limit and idempotency.
      RATE_LIMIT_MAX_CALLS: string(rateLimitMaxCalls)
      RATE_LIMIT_WINDOW_SECONDS: string(rateLimitWindowSeconds)
      RATE_LIMIT_SAFETY_MARGIN_MS: string(rateLimitSafetyMarginMs)
      RATE_LIMIT_MAX_WAIT_SECONDS: string(rateLimitMaxWaitSeconds)
      RATE_LIMIT_INTERACTIVE_RESERVE: string(rateLimitInteractiveReserve)
      RATE_LIMIT_RESERVATION_TOLERANCE_MS: string(rateLimitReservationToleranceMs)
      RATE_LIMIT_TABLE_NAME: rateLimitTableName
      IDEMPOTENCY_TABLE_NAME: idempotencyTableName
      IDEMPOTENCY_TTL_SECONDS: string(idempotencyTtlSeconds)
      // The send queue (POST /api/sms with Prefer: respond-async) and its statuses.
      SEND_QUEUE_NAME: sendQueueName
      SEND_STATUS_TABLE_NAME: sendStatusTableName
      SEND_STATUS_TTL_SECONDS: string(sendStatusTtlSeconds)
      // Merged calls: queued sends of one text share Sendmode calls (the waiting set in a table).
      SEND_MERGE: sendMerge
      SEND_MERGE_WINDOW_MS: string(sendMergeWindowMs)
      SEND_MAX_RECIPIENTS_PER_CALL: string(sendMaxRecipientsPerCall)
      SEND_MERGE_TABLE_NAME: sendMergeTableName
      // Sendmode's delivery reports (POST/GET /api/delivery-reports) and the warning when none come.
      DELIVERY_REPORTS: deliveryReports
      DELIVERY_REPORT_EXPECTED_MINUTES: string(deliveryReportExpectedMinutes)
      DELIVERY_REPORT_WATCH_SENDS: string(deliveryReportWatchSends)
      DELIVERY_TABLE_NAME: deliveryTableName
      // Each instance's per-minute figures: the status page's hour of history.
      HISTORY_TABLE_NAME: historyTableName
      // Webhook subscriptions to the app's events (the connector's triggers).
      SUBSCRIPTION_TABLE_NAME: subscriptionTableName
      EVENT_QUEUE_NAME: eventQueueName
      // Queues and opt-outs.
      IMPORT_QUEUE_NAME: importQueueName
      OPT_OUT_QUEUE_NAME: optOutQueueName
      QUEUE_RETRY_BASE_SECONDS: string(queueRetryBaseSeconds)
      QUEUE_RETRY_MAX_SECONDS: string(queueRetryMaxSeconds)
      SUPPRESSION_TABLE_NAME: suppressionTableName
      WEBHOOK_IDS_TABLE_NAME: webhookIdsTableName
      OPT_OUT_KEYWORDS: optOutKeywords
      OPT_IN_KEYWORDS: optInKeywords
      OPT_OUT_AUDIT_TABLE_NAME: optOutAuditTableName
      // The phone-number rule and smart encoding (shared/schemas/phone-number.ts, sms-text.ts).
      DEFAULT_COUNTRY_CODE: defaultCountryCode
      ALLOW_NON_MOBILE_NUMBERS: allowNonMobileNumbers ? 'true' : 'false'
      SMART_ENCODING: smartEncoding
      // Easy Auth (configured outside this template): the caller's principal header is trusted.
      APP_SERVICE_AUTH_ENABLED: appServiceAuthEnabled ? 'true' : 'false'
    }
  }
}

// The app's own definition (connector/apiDefinition.swagger.json) as a custom connector for Logic
// Apps, pointed at the app, and a connection holding its default host key (docs/deploy.md). After
// the app and its roles: with identity-based storage, the host keeps its keys in blobs through them.
module connector 'modules/connector.bicep' = {
  name: 'connector'
  scope: rg
  params: {
    customApiName: names.customApi
    connectionName: names.apiConnection
    location: location
    tags: tags
    functionAppName: names.functionApp
    deployConnection: deployLogicAppsConnection
  }
  dependsOn: [
    functionApp
    appRoles
  ]
}

// ---- Outputs (names and addresses only: no keys, secrets or connection strings) ----------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output SERVICE_API_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_HOSTNAME string = functionApp.outputs.defaultHostName
output SERVICE_API_URI string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_URI string = keyVault.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_FUNCTION_IDENTITY_CLIENT_ID string = identity.outputs.clientId
// For the postprovision hook (scripts/ensure-webhook-secret.sh) and the deployer: whether
// webhooks must be signed, and the vault secret's name (a name, never its value).
output WEBHOOK_SIGNATURE_REQUIRED bool = requireSignature
output WEBHOOK_SIGNING_SECRET_NAME string = webhookSigningSecretName
// The custom connector and its connection (empty when deployLogicAppsConnection is false): names
// and ids, never the key the connection holds.
output AZURE_LOGIC_APPS_CUSTOM_API_NAME string = connector.outputs.customApiName
output AZURE_LOGIC_APPS_CUSTOM_API_ID string = connector.outputs.customApiId
output AZURE_LOGIC_APPS_CONNECTION_NAME string = connector.outputs.connectionName
output AZURE_LOGIC_APPS_CONNECTION_ID string = connector.outputs.connectionId
