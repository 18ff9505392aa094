// Log search alerts on what the app sends Application Insights (docs/telemetry-kql.md has every
// query, runnable as written there): its OpenTelemetry metrics in customMetrics (never sampled)
// and its one log record per invocation in traces. Each query is kql/alert-*.kql, after `let`
// lines carrying this module's thresholds; it returns a row only when its alert should fire.
// Every alert tells the action group, which exists when alertEmail is given.

@description('Azure region.')
param location string

@description('Tags for the alert resources.')
param tags object

@description('Resource id of the Application Insights component the app logs to.')
param applicationInsightsId string

@description('Name prefix of the alert resources.')
param namePrefix string

@minValue(1)
@maxValue(100)
@description('Fire when fewer than this percentage of the recipients given a final delivery status in an hour are delivered.')
param deliveredPercentThreshold int = 50

@minValue(1)
@description('Fire only when at least this many recipients were given a final delivery status in the hour (a handful is no signal).')
param minimumFinalReports int = 20

@minValue(1)
@description('Fire when at least this many queue messages went to a poison queue in 15 minutes.')
param poisonedThreshold int = 1

@minValue(1)
@description('Fire when Sendmode refused the API key on at least this many calls in 15 minutes.')
param keyRefusedThreshold int = 1

@minValue(1)
@maxValue(100)
@description('Fire when more than this percentage of 15 minutes\' Sendmode calls failed or were throttled.')
param failingPercentThreshold int = 10

@minValue(1)
@description('Fire on the failing share only when at least this many Sendmode calls were made in the 15 minutes.')
param failingMinimumCalls int = 20

@minValue(5)
@maxValue(50)
@description('Fire when the shared limit was exhausted this many consecutive minutes (a gap of one minute is tolerated).')
param budgetMinutes int = 30

@minValue(1)
@description('Calls admitted in the window that count as the limit reached: RATE_LIMIT_MAX_CALLS (background work alone reaches the limit less the interactive reserve).')
param budgetCalls int = 100

@minValue(1)
@description('Fire when at least this many invocations failed in 10 minutes because Key Vault or Storage was unavailable.')
param dependencyUnavailableThreshold int = 5

@description('E-mail address told when an alert fires; empty: the alerts are visible in Azure Monitor only.')
param alertEmail string = ''

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: '${namePrefix}-ops'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'sms-ops'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var actions = {
  actionGroups: empty(alertEmail) ? [] : [actionGroup.id]
}

// A query that returns rows only when the alert should fire: it fires on one row or more.
var anyRow = {
  timeAggregation: 'Count'
  operator: 'GreaterThan'
  threshold: 0
  failingPeriods: {
    numberOfEvaluationPeriods: 1
    minFailingPeriodsToAlert: 1
  }
}

resource deliveredRatio 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${namePrefix}-delivered-ratio'
  location: location
  tags: tags
  properties: {
    displayName: 'SMS delivered ratio below ${deliveredPercentThreshold}%'
    description: 'Of the recipients given a final delivery status in the last hour (the sms.delivery metric), fewer than ${deliveredPercentThreshold}% were delivered. Usually an unregistered sender id or the wrong Sendmode API generation: see "Delivery reports" in the README.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT1H'
    criteria: {
      allOf: [
        union(anyRow, {
          query: 'let deliveredPercent = ${deliveredPercentThreshold};\nlet minimumFinals = ${minimumFinalReports};\n${loadTextContent('kql/alert-delivered-ratio.kql')}'
        })
      ]
    }
    actions: actions
  }
}

resource poisoned 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${namePrefix}-poisoned'
  location: location
  tags: tags
  properties: {
    displayName: 'Queue message poisoned'
    description: 'At least ${poisonedThreshold} queue message(s) went to a poison queue in 15 minutes (the queue.poisoned metric): the work they carried was given up. `npm run poison` lists and replays them.'
    severity: 1
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        union(anyRow, {
          query: 'let threshold = ${poisonedThreshold};\n${loadTextContent('kql/alert-poisoned.kql')}'
        })
      ]
    }
    actions: actions
  }
}

resource keyRefused 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${namePrefix}-key-refused'
  location: location
  tags: tags
  properties: {
    displayName: 'Sendmode refused the API key'
    description: 'Sendmode refused the API key on at least ${keyRefusedThreshold} call(s) in 15 minutes (sendmode.calls, outcome rejected, reason key): nothing is sent until the vault secret holds a valid key.'
    severity: 1
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        union(anyRow, {
          query: 'let threshold = ${keyRefusedThreshold};\n${loadTextContent('kql/alert-key-refused.kql')}'
        })
      ]
    }
    actions: actions
  }
}

resource sendmodeFailing 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${namePrefix}-sendmode-failing'
  location: location
  tags: tags
  properties: {
    displayName: 'Sendmode calls failing above ${failingPercentThreshold}%'
    description: 'More than ${failingPercentThreshold}% of the Sendmode calls in 15 minutes (at least ${failingMinimumCalls} calls) failed (transport errors, timeouts, 5xx) or were throttled by Sendmode (sendmode.calls by outcome).'
    severity: 1
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        union(anyRow, {
          query: 'let failingPercent = ${failingPercentThreshold};\nlet minimumCalls = ${failingMinimumCalls};\n${loadTextContent('kql/alert-sendmode-failing.kql')}'
        })
      ]
    }
    actions: actions
  }
}

// The query looks at the last budgetMinutes + 10 minutes (ingestion delay) of the hour it is given.
resource budgetExhausted 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${namePrefix}-budget-exhausted'
  location: location
  tags: tags
  properties: {
    displayName: 'Sendmode budget exhausted for ${budgetMinutes} minutes'
    description: 'For ${budgetMinutes} consecutive minutes the shared limit was exhausted: its window held ${budgetCalls} admitted calls (sendmode.limit.admitted) or it held work back (sendmode.limit.waits: 429s to callers, queue messages deferred). Callers are refused and queued work falls behind.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT1H'
    criteria: {
      allOf: [
        union(anyRow, {
          query: 'let maxCalls = ${budgetCalls};\nlet minutes = ${budgetMinutes};\n${loadTextContent('kql/alert-budget-exhausted.kql')}'
        })
      ]
    }
    actions: actions
  }
}

resource dependencyUnavailable 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${namePrefix}-dependency-unavailable'
  location: location
  tags: tags
  properties: {
    displayName: 'Key Vault or Storage unavailable'
    description: 'At least ${dependencyUnavailableThreshold} invocations in 10 minutes ended dependency-unavailable: Key Vault (the API key), Table Storage (the limit, idempotency, statuses) or Queue Storage did not answer or refused the app\'s identity.'
    severity: 1
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT10M'
    criteria: {
      allOf: [
        union(anyRow, {
          query: 'let threshold = ${dependencyUnavailableThreshold};\n${loadTextContent('kql/alert-dependency-unavailable.kql')}'
        })
      ]
    }
    actions: actions
  }
}

output deliveredRatioAlertName string = deliveredRatio.name
output alertNames array = [
  deliveredRatio.name
  poisoned.name
  keyRefused.name
  sendmodeFailing.name
  budgetExhausted.name
  dependencyUnavailable.name
]
