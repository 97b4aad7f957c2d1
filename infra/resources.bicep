// Every Azure resource of the app. Identity-based connections only: no keys or connection
// strings in app settings. One exception, for F&O (docs/deployment.md): its Service Bus endpoint
// authenticates with a connection string read from Key Vault ("Business events and Azure Service
// Bus", learn.microsoft.com/dynamics365/fin-ops-core/dev-itpro/business-events/how-to/how-to-servicebus,
// documents only that), so the namespace keeps SAS enabled and F&O gets a send-only rule scoped to
// the one topic, whose connection string lives only in Key Vault.
param environmentName string
param location string
param tags object
param commerceBaseUrl string
@description('F&O legal entity (dataAreaId) of the integration user, e.g. USRT in the demo data.')
param commerceLegalEntity string
@description('Legal entities whose events are handled, comma-separated; empty: only commerceLegalEntity.')
param commerceLegalEntities string = ''
param graphTenantId string

@description('Service Bus topic Commerce business/data events are delivered to.')
param topicName string = 'commerce-events'
@description('This app\'s subscription on the topic.')
param subscriptionName string = 'teams-sync'
@description('Topic the Dataverse Service Bus endpoint sends account/opportunity events to (docs/records.md).')
param dataverseTopicName string = 'dataverse-events'
param dataverseSubscriptionName string = 'teams-records'
@description('Dataverse environment URL for record-connected channels, e.g. https://contoso.crm.dynamics.com (empty: off).')
param dataverseBaseUrl string = ''
@description('Deliveries before Service Bus dead-letters a message (see docs/events.md).')
param maxDeliveryCount int = 10
@description('Object id of the operator who runs `cts --target azure` and the azd hooks (azd passes the signed-in principal); empty: no operator roles.')
param operatorPrincipalId string = ''
@allowed(['User', 'Group', 'ServicePrincipal'])
param operatorPrincipalType string = 'User'
@description('Object id of the F&O Entra application (service principal) that reads the Service Bus secret from Key Vault; empty: grant it later (docs/deployment.md).')
param fnoKeyVaultReaderPrincipalId string = ''

var token = toLower(uniqueString(subscription().id, environmentName, location))
var deploymentContainer = 'app-package'
// Key Vault secrets the app settings reference. The hook (infra/postdeploy.sh) writes the webhook
// ones once (infra/hooks/postdeploy.sh); Bicep never writes them, so a re-provision neither wipes nor rotates them.
var secretNames = {
  fnoSend: 'servicebus-fno-send-connection'
  clientState: 'webhook-client-state'
  notificationUrl: 'webhook-notification-url'
  lifecycleUrl: 'webhook-lifecycle-url'
}

// User-assigned, so its client id is known to Bicep (F&O's "Microsoft Entra applications" page
// and Dataverse application users take the client id) and it outlives the Function App.
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${token}'
  location: location
  tags: tags
}

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
  // checkov:skip=CKV_AZURE_43:the name is 'st' + uniqueString (13 lowercase alphanumerics), valid; checkov cannot evaluate it
  // checkov:skip=CKV_AZURE_35:Flex Consumption without VNet integration reaches its storage over public endpoints
  // checkov:skip=CKV_AZURE_206:LRS accepted: durable history and sync state are rebuilt by reconciliation from Commerce
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
  // SAS stays enabled for F&O's send-only rule below (see the file's header); the app itself uses
  // its identity only. The namespace's RootManageSharedAccessKey exists on every namespace; it is
  // never read or distributed (docs/deployment.md, "Accepted findings").
  properties: { disableLocalAuth: false, minimumTlsVersion: '1.2' }

  resource topic 'topics' = {
    name: topicName
    properties: {
      requiresDuplicateDetection: true
      duplicateDetectionHistoryTimeWindow: 'PT10M'
      defaultMessageTimeToLive: 'P14D'
    }
    // F&O's business-event endpoint: Send on this topic only.
    resource fnoSend 'authorizationRules' = {
      name: 'fno-send'
      properties: { rights: ['Send'] }
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

  // Dataverse record events (record-connected channels, docs/records.md): the Dataverse Service Bus
  // endpoint sends with its own Send-only rule; the app's subscription has the same settlement rules.
  resource dataverseTopic 'topics' = {
    name: dataverseTopicName
    properties: {
      requiresDuplicateDetection: true
      duplicateDetectionHistoryTimeWindow: 'PT10M'
      defaultMessageTimeToLive: 'P14D'
    }
    resource dataverseSend 'authorizationRules' = {
      name: 'dataverse-send'
      properties: { rights: ['Send'] }
    }
    resource recordsSub 'subscriptions' = {
      name: dataverseSubscriptionName
      properties: {
        maxDeliveryCount: maxDeliveryCount
        lockDuration: 'PT1M'
        deadLetteringOnMessageExpiration: true
        deadLetteringOnFilterEvaluationExceptions: true
      }
    }
  }

  // The quarantine (shared/bus/quarantine.py, docs/events.md "Dead-lettering"): a trigger copies a
  // message it can never process here and dead-letters the copy at once with the app's reason
  // code as DeadLetterReason (the GA Python binding cannot settle the original). Duplicate
  // detection: the copy's id is derived from the source entity and sequence number, so a
  // redelivery of the original within the window makes no second copy. The dead letters stay
  // until replayed or purged (Service Bus never expires DLQ messages:
  // https://learn.microsoft.com/azure/service-bus-messaging/service-bus-dead-letter-queues); the
  // TTL and maxDeliveryCount only bound a copy no drain could settle (it is dead-lettered by
  // Service Bus then, keeping the app's reason in its cts-dead-letter-reason property).
  resource quarantine 'queues' = {
    name: 'cts-quarantine'
    properties: {
      maxDeliveryCount: maxDeliveryCount
      lockDuration: 'PT1M'
      requiresDuplicateDetection: true
      duplicateDetectionHistoryTimeWindow: 'PT1H'
      defaultMessageTimeToLive: 'P14D'
      deadLetteringOnMessageExpiration: true
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

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_189:F&O (Microsoft-hosted, outside our networks) reads its secret here
  // checkov:skip=CKV_AZURE_109:same reason: no firewall rule can name F&O's egress
  name: 'kv-${token}'
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    // F&O (a Microsoft-hosted service outside this subscription's networks) reads its secret
    // from here, so the vault cannot be private (docs/deployment.md, "Accepted findings").
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }

  // Rewritten by every provision with the rule's current key: the same value unless someone
  // regenerates the key, so F&O keeps working across `azd provision`.
  resource fnoSecret 'secrets' = {
    // checkov:skip=CKV_AZURE_41:an expiring secret would stop F&O's events silently; rotation is manual (docs/deployment.md)
    name: secretNames.fnoSend
    properties: {
      contentType: 'text/plain'
      value: bus::topic::fnoSend.listKeys().primaryConnectionString
    }
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:zone redundancy for Flex Consumption is regional and costs always-ready instances; opt in per region
  name: 'plan-${token}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222:Graph change notifications and the ops page reach the app over its public endpoint (keys protect it)
  // checkov:skip=CKV_AZURE_17:Microsoft Graph cannot present a client certificate to a webhook
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero; no always-ready instances by default (cost)
  // checkov:skip=CKV_AZURE_213:health check is not available on Flex Consumption plans
  name: 'func-${token}'
  location: location
  tags: union(tags, { 'azd-service-name': 'app' })
  kind: 'functionapp,linux'
  identity: { type: 'UserAssigned', userAssignedIdentities: { '${identity.id}': {} } }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identity.id }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: 40, instanceMemoryMB: 2048 }
      runtime: { name: 'python', version: '3.11' }
    }
    // Identity-based connections take the user-assigned identity's client id. CTS_WEBHOOK__* are
    // Key Vault references, written once by infra/hooks/postdeploy.sh (docs/deployment.md, "Secrets").
    // tests/unit/test_infra_settings.py checks these names against what the app reads.
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
      ftpsState: 'Disabled'
      appSettings: [
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identity.properties.clientId }
        { name: 'ServiceBusConnection__fullyQualifiedNamespace', value: '${bus.name}.servicebus.windows.net' }
        { name: 'ServiceBusConnection__credential', value: 'managedidentity' }
        { name: 'ServiceBusConnection__clientId', value: identity.properties.clientId }
        { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId } // DefaultAzureCredential (state tables, DLQ tools)
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identity.properties.clientId};Authorization=AAD' }
        // The worker hands each invocation the host's trace context (host.json telemetryMode:
        // OpenTelemetry); functions/telemetry.py exports the app's spans, metrics and logs.
        { name: 'PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY', value: 'true' }
        // httpx is instrumented by shared/telemetry/http.py (routes only, no query or UPN in URLs).
        { name: 'OTEL_PYTHON_DISABLED_INSTRUMENTATIONS', value: 'httpx,django,fastapi,flask,psycopg2,requests,urllib,urllib3' }
        { name: 'CTS_DURABLE_HUB', value: 'cts' }
        { name: 'CTS_BUS__TOPIC', value: topicName }
        { name: 'CTS_BUS__SUBSCRIPTION', value: subscriptionName }
        { name: 'CTS_GRAPH__AUTH', value: 'managed_identity' }
        { name: 'CTS_GRAPH__TENANT_ID', value: graphTenantId }
        { name: 'CTS_GRAPH__CLIENT_ID', value: identity.properties.clientId }
        { name: 'CTS_COMMERCE__BASE_URL', value: commerceBaseUrl }
        { name: 'CTS_COMMERCE__AUTH', value: 'managed_identity' }
        { name: 'CTS_COMMERCE__CLIENT_ID', value: identity.properties.clientId }
        { name: 'CTS_COMMERCE__LEGAL_ENTITY', value: commerceLegalEntity }
        { name: 'CTS_COMMERCE__LEGAL_ENTITIES', value: commerceLegalEntities }
        { name: 'CTS_RECONCILE__SCHEDULE', value: '0 0 2 * * *' } // nightly, UTC (timer binding expression)
        { name: 'CTS_RECONCILE__SWEEP_SCHEDULE', value: '0 */1 * * * *' }
        { name: 'CTS_TASKS__POLL_SCHEDULE', value: '0 */2 * * * *' } // Planner has no change notifications
        { name: 'CTS_TASKS__RECONCILE_SCHEDULE', value: '0 15 2 * * *' }
        { name: 'CTS_TASKS__FROM_TEAMS', value: 'off' } // off|published|adhoc|all: tasks made in Teams -> Commerce (docs/tasks.md)
        { name: 'CTS_RECORDS__ENABLED', value: empty(dataverseBaseUrl) ? 'false' : 'true' }
        { name: 'CTS_RECORDS__TOPIC', value: dataverseTopicName }
        { name: 'CTS_RECORDS__SUBSCRIPTION', value: dataverseSubscriptionName }
        { name: 'CTS_RECORDS__SCHEDULE', value: '0 30 2 * * *' } // nightly reconciliation of every connection
        { name: 'CTS_DATAVERSE__BASE_URL', value: empty(dataverseBaseUrl) ? 'https://contoso.crm.dynamics.com' : dataverseBaseUrl }
        { name: 'CTS_DATAVERSE__AUTH', value: 'managed_identity' }
        { name: 'CTS_DATAVERSE__CLIENT_ID', value: identity.properties.clientId }
        { name: 'CTS_STATE__BACKEND', value: 'table' }
        { name: 'CTS_STATE__TABLE_ENDPOINT', value: storage.properties.primaryEndpoints.table }
        { name: 'CTS_STATE__HOUSEKEEPING_SCHEDULE', value: '0 40 3 * * *' }
        { name: 'CTS_WEBHOOK__SUBSCRIPTION_SCHEDULE', value: '0 */30 * * * *' }
        // Kill switch and opt-outs (docs/control.md); `cts suspend` is the runtime switch.
        { name: 'CTS_CONTROL__SUSPEND_ALL_WRITES', value: 'false' }
        { name: 'CTS_CONTROL__EXCLUDED_STORES', value: '[]' }
        { name: 'CTS_CONTROL__EXCLUDED_REGIONS', value: '[]' }
        // Licences before teams and the mapping written back to Commerce (docs/provisioning.md, docs/commerce.md)
        { name: 'CTS_PROVISIONING__REQUIRE_TEAMS_LICENCE', value: 'true' }
        { name: 'CTS_COMMERCE__WRITE_TEAM_MAPPINGS', value: 'true' }
        { name: 'CTS_PROVISIONING__ROLE_TAGS', value: '{}' } // e.g. {"Shift lead": "Shift leads"}; needs TeamworkTag.ReadWrite.All
        { name: 'CTS_WEBHOOK__CLIENT_STATE', value: '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${secretNames.clientState})' }
        { name: 'CTS_WEBHOOK__NOTIFICATION_URL', value: '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${secretNames.notificationUrl})' }
        { name: 'CTS_WEBHOOK__LIFECYCLE_NOTIFICATION_URL', value: '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${secretNames.lifecycleUrl})' }
      ]
    }
  }
}

// Least privilege for the app's managed identity, scoped to the one resource each is for.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // deployment package + Durable leases
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Durable work queues
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Durable history + sync state
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0' // triggers, DLQ reads, quarantine receive + dead-letter
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39' // webhook persistence, quarantine copies, DLQ replay
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb' // Entra-auth App Insights
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6' // app: resolve references; F&O: its one secret
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7' // operator: the hook writes webhook secrets
}
var principalId = identity.properties.principalId

resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in [roles.storageBlobDataOwner, roles.storageQueueDataContributor, roles.storageTableDataContributor]: {
  name: guid(storage.id, identity.id, role)
  scope: storage
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]

// Scoped to the namespace: the triggers' entities, graph-notifications and cts-quarantine (the
// quarantine sends there, receives from it and dead-letters; both need these two roles only).
resource busRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in [roles.serviceBusDataReceiver, roles.serviceBusDataSender]: {
  name: guid(bus.id, identity.id, role)
  scope: bus
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]

resource insightsRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: insights
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

resource vaultAppRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

// F&O reads only its own secret (the docs' "Get and List" on secrets, as an RBAC role on the secret).
resource fnoSecretRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(fnoKeyVaultReaderPrincipalId)) {
  name: guid(vault::fnoSecret.id, fnoKeyVaultReaderPrincipalId, roles.keyVaultSecretsUser)
  scope: vault::fnoSecret
  properties: {
    principalId: fnoKeyVaultReaderPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

// The operator: `cts dlq list|show|replay|purge` (receive, send, complete on the namespace),
// `cts status` audit and state reads (tables), the hook's webhook secrets (Key Vault). Data
// Receiver + Sender cover replay and purge; Data Owner (management rights) is not needed.
resource operatorBusRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in [roles.serviceBusDataReceiver, roles.serviceBusDataSender]: if (!empty(operatorPrincipalId)) {
  name: guid(bus.id, operatorPrincipalId, role)
  scope: bus
  properties: {
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]

resource operatorStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in [roles.storageTableDataContributor]: if (!empty(operatorPrincipalId)) {
  name: guid(storage.id, operatorPrincipalId, role)
  scope: storage
  properties: {
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]

resource operatorVaultRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in [roles.keyVaultSecretsOfficer]: if (!empty(operatorPrincipalId)) {
  name: guid(vault.id, operatorPrincipalId, role)
  scope: vault
  properties: {
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]

output functionAppName string = app.name
output principalId string = principalId
output clientId string = identity.properties.clientId
output serviceBusNamespace string = bus.name
output serviceBusId string = bus.id
output insightsId string = insights.id
output serviceBusFqdn string = '${bus.name}.servicebus.windows.net'
output hostUrl string = 'https://${app.properties.defaultHostName}'
output tableEndpoint string = storage.properties.primaryEndpoints.table
output keyVaultName string = vault.name
output keyVaultUri string = vault.properties.vaultUri
output fnoSecretName string = secretNames.fnoSend
output fnoTopicName string = topicName
output webhookUrl string = 'https://${app.properties.defaultHostName}/api/graph/notifications'
