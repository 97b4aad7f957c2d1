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

@description('F&O legal entity (dataAreaId) of the integration user.')
param commerceLegalEntity string

@description('Legal entities whose events are handled, comma-separated; empty: only commerceLegalEntity.')
param commerceLegalEntities string = ''

@description('Entra tenant id the app reads and writes Teams in.')
param graphTenantId string = subscription().tenantId

@description('Object id of the operator (azd passes the signed-in user): Service Bus data receiver + sender, table data contributor, Key Vault secrets officer. Empty: none.')
param operatorPrincipalId string = ''

@allowed(['User', 'Group', 'ServicePrincipal'])
param operatorPrincipalType string = 'User'

@description('Object id of the service principal of the Entra app F&O uses to read Key Vault (docs/deployment.md); empty: grant it later.')
param fnoKeyVaultReaderPrincipalId string = ''

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
    commerceLegalEntity: commerceLegalEntity
    commerceLegalEntities: commerceLegalEntities
    graphTenantId: graphTenantId
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
    fnoKeyVaultReaderPrincipalId: fnoKeyVaultReaderPrincipalId
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

// azd keeps these in the environment (`azd env get-values`): the hooks read them, and the names
// that are app settings (ServiceBusConnection__fullyQualifiedNamespace, CTS_STATE__*,
// CTS_OPS__HOST_URL) are what `cts --target azure` reads (cts/target.py).
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = resources.outputs.functionAppName
output AZURE_FUNCTION_PRINCIPAL_ID string = resources.outputs.principalId
output AZURE_FUNCTION_CLIENT_ID string = resources.outputs.clientId
output AZURE_KEY_VAULT_NAME string = resources.outputs.keyVaultName
output SERVICEBUS_NAMESPACE string = resources.outputs.serviceBusNamespace
output ServiceBusConnection__fullyQualifiedNamespace string = resources.outputs.serviceBusFqdn
output CTS_STATE__BACKEND string = 'table'
output CTS_STATE__TABLE_ENDPOINT string = resources.outputs.tableEndpoint
output CTS_OPS__HOST_URL string = resources.outputs.hostUrl
output FNO_KEY_VAULT_URI string = resources.outputs.keyVaultUri
output FNO_KEY_VAULT_SECRET_NAME string = resources.outputs.fnoSecretName
output FNO_TOPIC_NAME string = resources.outputs.fnoTopicName
output WEBHOOK_URL string = resources.outputs.webhookUrl
