// Every Azure resource of the app. Identity-based connections only: no keys or connection
// strings in app settings (Storage and Service Bus have local auth disabled).
param environmentName string
param location string
param tags object
param commerceBaseUrl string
param graphTenantId string

@description('Service Bus topic Commerce business/data events are delivered to.')
param topicName string = 'commerce-events'
@description('This app\'s subscription on the topic.')
param subscriptionName string = 'teams-sync'
@description('Deliveries before Service Bus dead-letters a message (see docs/events.md).')
param maxDeliveryCount int = 10

var token = toLower(uniqueString(subscription().id, environmentName, location))
var deploymentContainer = 'app-package'

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${token}'
  location: location
  tags: tags
  properties: { retentionInDays: 30, sku: { name: 'PerGB2018' } }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${token}'
  location: location
  tags: tags
  kind: 'web'
  properties: { Application_Type: 'web', WorkspaceResourceId: logs.id, DisableLocalAuth: true }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'st${token}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
  resource blobs 'blobServices' = {
    name: 'default'
    resource container 'containers' = { name: deploymentContainer }
  }
}

resource bus 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: 'sb-${token}'
  location: location
  tags: tags
  sku: { name: 'Standard', tier: 'Standard' } // topics need Standard or Premium
  properties: { disableLocalAuth: true, minimumTlsVersion: '1.2' }

  resource topic 'topics' = {
    name: topicName
    properties: {
      requiresDuplicateDetection: true
      duplicateDetectionHistoryTimeWindow: 'PT10M'
      defaultMessageTimeToLive: 'P14D'
    }
    resource sub 'subscriptions' = {
      name: subscriptionName
      properties: {
        maxDeliveryCount: maxDeliveryCount
        lockDuration: 'PT1M'
        deadLetteringOnMessageExpiration: true
        deadLetteringOnFilterEvaluationExceptions: true
      }
      // Replays from `cts dlq replay` are sent to the topic addressed to one subscription
      // (x-target-subscription); every subscription takes untargeted messages and its own only.
      // The rule *replaces* $Default (a TrueFilter that would accept every copy). Grammar:
      // https://learn.microsoft.com/azure/service-bus-messaging/service-bus-messaging-sql-filter
      resource rule 'rules' = {
        name: '$Default'
        properties: {
          filterType: 'SqlFilter'
          sqlFilter: { sqlExpression: 'NOT EXISTS([x-target-subscription]) OR [x-target-subscription] = \'${subscriptionName}\'' }
        }
      }
    }
  }

  // Graph change notifications, persisted by the webhook before it answers 202.
  resource notifications 'queues' = {
    name: 'graph-notifications'
    properties: {
      maxDeliveryCount: maxDeliveryCount
      lockDuration: 'PT1M'
      requiresDuplicateDetection: true
      duplicateDetectionHistoryTimeWindow: 'PT10M'
      deadLetteringOnMessageExpiration: true
    }
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${token}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: 'func-${token}'
  location: location
  tags: union(tags, { 'azd-service-name': 'app' })
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: 40, instanceMemoryMB: 2048 }
      runtime: { name: 'python', version: '3.11' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: [
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'ServiceBusConnection__fullyQualifiedNamespace', value: '${bus.name}.servicebus.windows.net' }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'Authorization=AAD' }
        // The worker hands each invocation the host's trace context (host.json telemetryMode:
        // OpenTelemetry); functions/telemetry.py exports the app's spans, metrics and logs.
        { name: 'PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY', value: 'true' }
        // httpx is instrumented by shared/telemetry/http.py (routes only, no query or UPN in URLs).
        { name: 'OTEL_PYTHON_DISABLED_INSTRUMENTATIONS', value: 'httpx,django,fastapi,flask,psycopg2,requests,urllib,urllib3' }
        { name: 'CTS_DURABLE_HUB', value: 'cts' }
        { name: 'CTS_BUS__TOPIC', value: topicName }
        { name: 'CTS_BUS__SUBSCRIPTION', value: subscriptionName }
        { name: 'CTS_BUS__NAMESPACE', value: '${bus.name}.servicebus.windows.net' }
        { name: 'CTS_GRAPH__AUTH', value: 'managed_identity' }
        { name: 'CTS_GRAPH__TENANT_ID', value: graphTenantId }
        { name: 'CTS_COMMERCE__BASE_URL', value: commerceBaseUrl }
        { name: 'CTS_COMMERCE__AUTH', value: 'managed_identity' }
        { name: 'CTS_RECONCILE__SCHEDULE', value: '0 0 2 * * *' } // nightly, UTC (timer binding expression)
        { name: 'CTS_RECONCILE__SWEEP_SCHEDULE', value: '0 */1 * * * *' }
        { name: 'CTS_TASKS__POLL_SCHEDULE', value: '0 */2 * * * *' } // Planner has no change notifications
        { name: 'CTS_TASKS__RECONCILE_SCHEDULE', value: '0 15 2 * * *' }
        { name: 'CTS_STATE__BACKEND', value: 'table' }
        { name: 'CTS_STATE__TABLE_ENDPOINT', value: storage.properties.primaryEndpoints.table }
        { name: 'CTS_WEBHOOK__SUBSCRIPTION_SCHEDULE', value: '0 */30 * * * *' }
        // CTS_WEBHOOK__NOTIFICATION_URL / __LIFECYCLE_NOTIFICATION_URL (they carry the function key,
        // which exists only after deployment) and CTS_WEBHOOK__CLIENT_STATE (a random secret) are
        // set by grant-graph-permissions.sh.
      ]
    }
  }
}

// Least privilege for the app's managed identity, scoped to the one resource each is for.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // deployment package + Durable leases
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Durable work queues
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Durable history + sync state
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0' // triggers, DLQ reads
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39' // webhook persistence, DLQ replay
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb' // Entra-auth App Insights
}

resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in [roles.storageBlobDataOwner, roles.storageQueueDataContributor, roles.storageTableDataContributor]: {
  name: guid(storage.id, app.id, role)
  scope: storage
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]

resource busRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in [roles.serviceBusDataReceiver, roles.serviceBusDataSender]: {
  name: guid(bus.id, app.id, role)
  scope: bus
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]

resource insightsRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, app.id, roles.monitoringMetricsPublisher)
  scope: insights
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

output functionAppName string = app.name
output principalId string = app.identity.principalId
output serviceBusNamespace string = bus.name
output serviceBusId string = bus.id
output insightsId string = insights.id
output webhookUrl string = 'https://${app.properties.defaultHostName}/api/graph/notifications'
