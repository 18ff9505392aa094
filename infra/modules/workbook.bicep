// A shared Azure Monitor workbook on the Application Insights component: the shared limit's
// budget, sends, failures, waits, poison messages, delivery statuses and unavailable
// dependencies over time. Each chart's query is kql/chart-*.kql (docs/telemetry-kql.md explains
// them); the time range picked at the top applies to every chart.

@description('Azure region.')
param location string

@description('Tags for the workbook.')
param tags object

@description('Resource id of the Application Insights component the charts query.')
param applicationInsightsId string

@description('Seeds the workbook\'s name: a GUID stable for this resource group and prefix.')
param namePrefix string

@description('Display name of the workbook (unique in the resource group).')
param displayName string

@minValue(1)
@description('Calls the shared limit admits per window (RATE_LIMIT_MAX_CALLS): the budget chart\'s limit line.')
param rateLimitMaxCalls int = 100

// Every chart: a Logs query on the component, over the picked time range, drawn as a time chart.
var chart = {
  version: 'KqlItem/1.0'
  size: 0
  queryType: 0
  resourceType: 'microsoft.insights/components'
  timeContextFromParameter: 'TimeRange'
  visualization: 'timechart'
}

var content = {
  version: 'Notebook/1.0'
  items: [
    {
      type: 1
      name: 'about'
      content: {
        json: '## Sendmode connector\nThe app\'s OpenTelemetry metrics (meter `sendmode-connector`) and invocation log records. The shared limit admits ${rateLimitMaxCalls} calls per window. Queries and alerts: docs/telemetry-kql.md.'
      }
    }
    {
      type: 9
      name: 'parameters'
      content: {
        version: 'KqlParameterItem/1.0'
        parameters: [
          {
            id: 'b3f0c2de-5a8e-4c1f-9f0e-2d6a7c41e9a1'
            version: 'KqlParameterItem/1.0'
            name: 'TimeRange'
            label: 'Time range'
            type: 4
            isRequired: true
            value: {
              durationMs: 14400000
            }
            typeSettings: {
              selectableValues: [
                { durationMs: 3600000 }
                { durationMs: 14400000 }
                { durationMs: 43200000 }
                { durationMs: 86400000 }
                { durationMs: 172800000 }
                { durationMs: 604800000 }
              ]
              allowCustom: true
            }
          }
        ]
        style: 'pills'
        queryType: 0
        resourceType: 'microsoft.insights/components'
      }
    }
    {
      type: 3
      name: 'budget'
      content: union(chart, {
        title: 'Budget per minute: calls admitted in the window and calls made, by class'
        query: 'let maxCalls = ${rateLimitMaxCalls};\n${loadTextContent('kql/chart-budget.kql')}'
      })
    }
    {
      type: 3
      name: 'sends'
      content: union(chart, {
        title: 'Sent: recipients and message parts Sendmode took, by class (per 5 minutes)'
        query: loadTextContent('kql/chart-sends.kql')
      })
    }
    {
      type: 3
      name: 'failures'
      content: union(chart, {
        title: 'Sendmode calls not ok, by outcome (per 5 minutes)'
        query: loadTextContent('kql/chart-failures.kql')
      })
    }
    {
      type: 3
      name: 'waits'
      content: union(chart, {
        title: 'Work the limit held back, by kind: rejected (429) and deferred (per 5 minutes)'
        query: loadTextContent('kql/chart-waits.kql')
      })
    }
    {
      type: 3
      name: 'poisoned'
      content: union(chart, {
        title: 'Messages poisoned, by queue (per 5 minutes)'
        query: loadTextContent('kql/chart-poisoned.kql')
      })
    }
    {
      type: 3
      name: 'delivery'
      content: union(chart, {
        title: 'Recipients by the delivery status a report gave them (per 5 minutes)'
        query: loadTextContent('kql/chart-delivery.kql')
      })
    }
    {
      type: 3
      name: 'dependencies'
      content: union(chart, {
        title: 'Invocations failed by an unavailable dependency (per 5 minutes)'
        query: loadTextContent('kql/chart-dependencies.kql')
      })
    }
  ]
  fallbackResourceIds: [
    applicationInsightsId
  ]
  '$schema': 'https://github.com/Microsoft/Application-Insights-Workbooks/blob/master/schema/workbook.json'
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, namePrefix)
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: applicationInsightsId
    version: 'Notebook/1.0'
    serializedData: string(content)
  }
}

output name string = workbook.name
output id string = workbook.id
