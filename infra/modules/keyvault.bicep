// The vault holding the Sendmode API key and the webhook signing secret. Access is by Azure RBAC
// only (no access policies); soft delete and purge protection keep a deleted secret recoverable.
// A secret is written only when its value is given: redeploying without it leaves the current
// version (set or rotated with `az keyvault secret set`) untouched. When signatures are required
// and no signing secret is given, azd's postprovision hook (scripts/ensure-webhook-secret.sh)
// creates one if the vault has none.

@description('Name of the vault (3-24 letters, digits and dashes).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags for the vault.')
param tags object

@description('Days a deleted vault or secret can be recovered (7-90).')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

@description('Name of the secret holding the Sendmode API key.')
param sendmodeApiKeySecretName string

@description('The Sendmode API key; empty leaves the secret as it is.')
@secure()
param sendmodeApiKey string = ''

@description('Name of the secret holding the webhook signing secret.')
param webhookSigningSecretName string

@description('The webhook signing secret (whsec_<base64> or a plain string); empty leaves the secret as it is.')
@secure()
param webhookSigningSecret string = ''

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource apiKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(sendmodeApiKey)) {
  parent: vault
  name: sendmodeApiKeySecretName
  properties: {
    value: sendmodeApiKey
    contentType: 'text/plain'
  }
}

resource signingSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(webhookSigningSecret)) {
  parent: vault
  name: webhookSigningSecretName
  properties: {
    value: webhookSigningSecret
    contentType: 'text/plain'
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
