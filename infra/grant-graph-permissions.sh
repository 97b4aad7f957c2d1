#!/bin/sh
# Grants the Function App's managed identity the Microsoft Graph application permissions it needs
# (least privilege; see docs/deployment.md for which feature needs which) and sets the webhook
# clientState secret once. Needs an account allowed to grant app roles (Privileged Role
# Administrator or Global Administrator). Idempotent: existing assignments are left as they are.
set -eu

principal="${AZURE_FUNCTION_PRINCIPAL_ID:?run 'azd provision' first (AZURE_FUNCTION_PRINCIPAL_ID is unset)}"
app_name="${AZURE_FUNCTION_APP_NAME:?AZURE_FUNCTION_APP_NAME is unset}"
resource_group="rg-${AZURE_ENV_NAME:?AZURE_ENV_NAME is unset}"
graph_app_id="00000003-0000-0000-c000-000000000000"

roles="Team.Create TeamMember.ReadWrite.All TeamSettings.ReadWrite.All Channel.Create \
ChannelSettings.ReadWrite.All Channel.ReadBasic.All User.Read.All GroupMember.Read.All Tasks.ReadWrite.All"
# The beta Planner delta (CTS_TASKS__USE_BETA_DELTA=true) documents Tasks.Read.All as its permission.
if [ "${WITH_PLANNER_DELTA:-0}" = "1" ]; then roles="$roles Tasks.Read.All"; fi
# Role tags (CTS_PROVISIONING__ROLE_TAGS): teamworktag-post documents TeamworkTag.ReadWrite.All.
if [ "${WITH_ROLE_TAGS:-0}" = "1" ]; then roles="$roles TeamworkTag.ReadWrite.All"; fi

graph_sp=$(az ad sp show --id "$graph_app_id" --query id -o tsv)
existing=$(az rest --method GET \
  --uri "https://graph.microsoft.com/v1.0/servicePrincipals/$principal/appRoleAssignments" \
  --query "value[].appRoleId" -o tsv)

for role in $roles; do
  role_id=$(az ad sp show --id "$graph_app_id" --query "appRoles[?value=='$role'].id | [0]" -o tsv)
  if printf '%s\n' "$existing" | grep -qx "$role_id"; then
    echo "already granted: $role"
    continue
  fi
  az rest --method POST \
    --uri "https://graph.microsoft.com/v1.0/servicePrincipals/$principal/appRoleAssignments" \
    --headers "Content-Type=application/json" \
    --body "{\"principalId\":\"$principal\",\"resourceId\":\"$graph_sp\",\"appRoleId\":\"$role_id\"}" >/dev/null
  echo "granted: $role"
done

# Graph cannot send headers, so the webhook URLs carry the function key (docs/drift.md).
host=$(az functionapp show -g "$resource_group" -n "$app_name" --query defaultHostName -o tsv)
key=$(az functionapp keys list -g "$resource_group" -n "$app_name" --query "functionKeys.default" -o tsv)
az functionapp config appsettings set -g "$resource_group" -n "$app_name" --settings \
  "CTS_WEBHOOK__NOTIFICATION_URL=https://$host/api/graph/notifications?code=$key" \
  "CTS_WEBHOOK__LIFECYCLE_NOTIFICATION_URL=https://$host/api/graph/lifecycle?code=$key" >/dev/null
echo "webhook URLs set (with the default function key)"

current=$(az functionapp config appsettings list -g "$resource_group" -n "$app_name" \
  --query "[?name=='CTS_WEBHOOK__CLIENT_STATE'].value | [0]" -o tsv)
if [ -z "$current" ]; then
  secret=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
  az functionapp config appsettings set -g "$resource_group" -n "$app_name" \
    --settings "CTS_WEBHOOK__CLIENT_STATE=$secret" >/dev/null
  echo "webhook clientState secret set"
fi
