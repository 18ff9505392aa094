// Role assignments for one principal: the app's managed identity, or (optionally) the deploying
// user, for debugging locally against the cloud resources. Built-in role definition ids are the
// same in every tenant; each is named in its comment.

@description('Object (principal) id to grant the roles to.')
param principalId string

@description('Kind of principal: the app identity is a ServicePrincipal, a person is a User.')
@allowed([
  'ServicePrincipal'
  'User'
  'Group'
])
param principalType string

@description('Grant Key Vault Secrets Officer (read and write secrets) instead of Key Vault Secrets User (read only).')
param manageSecrets bool = false

@description('Name of the Key Vault.')
param keyVaultName string

@description('Name of the storage account.')
param storageAccountName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

// Key Vault Secrets User: read secret contents.
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
// Key Vault Secrets Officer: read, set and rotate secrets (the deploying user only).
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
// Storage Blob Data Owner: host leases and keys, and the Flex Consumption deployment package.
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
// Storage Queue Data Contributor: the queue triggers and the app's own enqueues.
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
// Storage Table Data Contributor: the rate limiter, idempotency, suppression and webhook-id tables.
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
// Monitoring Metrics Publisher: telemetry to Application Insights with Entra ID authentication.
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

var keyVaultRole = manageSecrets ? keyVaultSecretsOfficer : keyVaultSecretsUser
var storageRoles = [
  storageBlobDataOwner
  storageQueueDataContributor
  storageTableDataContributor
]

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource vaultAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, keyVaultRole)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultRole)
    principalId: principalId
    principalType: principalType
  }
}

resource storageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in storageRoles: {
    name: guid(storage.id, principalId, roleId)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: principalId
      principalType: principalType
    }
  }
]

resource telemetryAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, principalId, monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: principalId
    principalType: principalType
  }
}
