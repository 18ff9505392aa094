// The app's own connector for Logic Apps: a custom API (Microsoft.Web/customApis) made from
// connector/apiDefinition.swagger.json, pointed at the deployed function app, and (optionally) an
// API connection to it holding the app's default host key, so a Logic App in the resource group
// can use the connector at once. The key is read at deployment (listKeys) straight into the
// connection's parameterValues, which Azure never returns: it is in no parameter and no output.
//
// The definition is loaded whole, as it is in the file (which `npm run connector` regenerates);
// only `host` (the app's default host name) and `schemes` (HTTPS only) are replaced.

@description('Name of the custom API (the connector).')
param customApiName string

@description('Name of the API connection to the custom API.')
param connectionName string

@description('Azure region.')
param location string

@description('Tags for the custom API and the connection.')
param tags object

@description('Name of the function app the connector calls (its default host name and host keys).')
param functionAppName string

@description('Create the API connection, holding the app\'s default host key (functionKeys.default). false creates the custom API only: connections are then made in the Logic Apps designer.')
param deployConnection bool = true

var definition = loadJsonContent('../../connector/apiDefinition.swagger.json')
var apiProperties = loadJsonContent('../../connector/apiProperties.json').properties

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

var host = functionApp.properties.defaultHostName

resource customApi 'Microsoft.Web/customApis@2016-06-01' = {
  name: customApiName
  location: location
  tags: tags
  properties: {
    apiType: 'Rest'
    displayName: definition.info.title
    description: definition.info.?description ?? ''
    brandColor: apiProperties.iconBrandColor
    capabilities: []
    backendService: {
      serviceUrl: 'https://${host}${definition.?basePath ?? '/api'}'
    }
    // The function key, sent as x-functions-key (the definition's securityDefinitions.api_key).
    connectionParameters: {
      api_key: {
        type: 'securestring'
        // What the designer shows when someone makes a connection, from connector/apiProperties.json.
        // Bicep's ConnectionParameter type lacks uiDefinition, which the API takes (the portal writes it).
        #disable-next-line BCP037
        uiDefinition: apiProperties.connectionParameters.api_key.uiDefinition
      }
    }
    swagger: union(definition, {
      host: host
      schemes: [
        'https'
      ]
    })
  }
}

resource connection 'Microsoft.Web/connections@2016-06-01' = if (deployConnection) {
  name: connectionName
  location: location
  tags: tags
  properties: {
    displayName: '${definition.info.title}: the app\'s default host key'
    api: {
      id: customApi.id
    }
    parameterValues: {
      api_key: listKeys('${functionApp.id}/host/default', '2024-04-01').functionKeys.default
    }
  }
}

// Names and ids only: never the key.
output customApiName string = customApi.name
output customApiId string = customApi.id
output connectionName string = deployConnection ? connection.name : ''
output connectionId string = deployConnection ? connection.id : ''
