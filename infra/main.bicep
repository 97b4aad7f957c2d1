// Entry point for `azd up`: one resource group holding everything the app needs.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('azd environment name; used to name resources.')
param environmentName string

@description('Azure region for every resource.')
param location string

@description('Finance and Operations (Commerce HQ) environment URL, e.g. https://contoso.operations.dynamics.com')
param commerceBaseUrl string

@description('Entra tenant id the app reads and writes Teams in.')
param graphTenantId string = subscription().tenantId

var tags = { 'azd-env-name': environmentName }

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module resources 'resources.bicep' = {
  name: 'resources'
  scope: rg
  params: {
    environmentName: environmentName
    location: location
    tags: tags
    commerceBaseUrl: commerceBaseUrl
    graphTenantId: graphTenantId
  }
}

@description('Mail address for the alerts (infra/alerts.bicep); empty = no notification.')
param alertEmail string = ''

module alerts 'alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    insightsId: resources.outputs.insightsId
    serviceBusId: resources.outputs.serviceBusId
    alertEmail: alertEmail
  }
}

output AZURE_FUNCTION_APP_NAME string = resources.outputs.functionAppName
output AZURE_FUNCTION_PRINCIPAL_ID string = resources.outputs.principalId
output SERVICEBUS_NAMESPACE string = resources.outputs.serviceBusNamespace
output WEBHOOK_URL string = resources.outputs.webhookUrl
