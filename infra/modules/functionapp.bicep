// The Flex Consumption (FC1, Linux) plan and the function app: Node.js 22, the user-assigned
// identity for everything (deployment package, AzureWebJobsStorage, Key Vault, telemetry), and
// the site locked down (HTTPS only, TLS 1.2, no FTP, no basic-auth publishing).
//
// Callers are checked by the Functions host (function and master keys), not in front of it: no
// App Service authentication (Easy Auth) and no access restrictions, so the anonymous routes
// answer anyone: /api/health, /api/openapi.json, and a queued send's status URL
// (/api/sms/{id}/status?token=..., which a Logic Apps poller follows without any key). Adding
// Easy Auth that requires sign-in would refuse those: exclude them (excludedPaths, docs/deploy.md).

@description('Name of the function app.')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region (one that offers Flex Consumption).')
param location string

@description('Tags for the plan; the function app also gets azd-service-name.')
param tags object

@description('azd service name in azure.yaml, tagged on the app so `azd deploy` finds it.')
param serviceName string = 'api'

@description('Resource id of the user-assigned identity.')
param identityId string

@description('Blob endpoint of the storage account (https://<account>.blob.core.windows.net/).')
param blobEndpoint string

@description('Container the plan deploys the app package from.')
param deploymentContainerName string

@description('Node.js version of the Functions runtime.')
@allowed([
  '20'
  '22'
])
param nodeVersion string = '22'

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 10

@description('App settings, name to value (all values strings).')
param appSettings object

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: identityId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'node'
        version: nodeVersion
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [
        for setting in items(appSettings): {
          name: setting.key
          value: setting.value
        }
      ]
    }
  }
}

// Basic (user name and password) publishing credentials off for FTP and for the SCM site:
// deployments go through Entra ID (azd, az, func) only.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = functionApp.name
output id string = functionApp.id
output defaultHostName string = functionApp.properties.defaultHostName
