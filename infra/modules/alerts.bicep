// Alerts on what the app logs: each invocation writes one JSON line to traces.message
// (shared/http/http.ts). Delivered ratio: of the delivery reports that gave a recipient its
// final status in the last hour, too few said DELIVRD (see "Delivery reports" in the README).

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
@description('Fire when fewer than this percentage of final delivery reports in an hour are DELIVRD.')
param deliveredPercentThreshold int = 50

@minValue(1)
@description('Fire only when at least this many final delivery reports came in the hour (a handful is no signal).')
param minimumFinalReports int = 20

@description('E-mail address told when an alert fires; empty: the alert is visible in Azure Monitor only.')
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

var finalStates = '"delivered","expired","undelivered","rejected","opted-out"'

resource deliveredRatio 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${namePrefix}-delivered-ratio'
  location: location
  tags: tags
  properties: {
    displayName: 'SMS delivered ratio below ${deliveredPercentThreshold}%'
    description: 'Of the final delivery reports in the last hour, fewer than ${deliveredPercentThreshold}% were DELIVRD. Usually an unregistered sender id or the wrong Sendmode API generation: see "Delivery reports" in the README.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT1H'
    criteria: {
      allOf: [
        {
          query: 'traces | where message has \'"operation":"delivery-report"\' | extend line = parse_json(message) | where tobool(line.changed) and tostring(line.deliveryState) in (${finalStates}) | summarize finals = count(), delivered = countif(tostring(line.deliveryState) == "delivered") | where finals >= ${minimumFinalReports} and delivered * 100 < finals * ${deliveredPercentThreshold}'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: empty(alertEmail) ? [] : [actionGroup.id]
    }
  }
}

output deliveredRatioAlertName string = deliveredRatio.name
