#!/bin/sh
# azd postdeploy (after the code is deployed, so the function keys exist). Idempotent: run it as
# often as you like; it changes only what is missing or stale.
#  1. Grants the app's managed identity the Microsoft Graph application permissions it needs
#     (least privilege; docs/deployment.md says which feature needs which). Needs Privileged Role
#     Administrator or Global Administrator (checked first by infra/hooks/preprovision.sh);
#     existing assignments are left as they are. Skipped with CTS_SKIP_GRAPH_GRANT=1.
#  2. Writes the webhook secrets the app settings reference in Key Vault (infra/resources.bicep):
#     the notification URLs (each carries its webhook function's OWN key, which Graph needs because
#     it cannot send headers, and which opens that function only -- never a host key, which would
#     also open every ops function; docs/security.md) when they differ, and clientState only if it is absent,
#     so a re-run or a re-provision never rotates it (live Graph subscriptions keep matching).
#  3. Restarts the app when a secret changed, so the Key Vault references are read again.
set -eu

fail() { echo "postdeploy: $*" >&2; exit 1; }

principal="${AZURE_FUNCTION_PRINCIPAL_ID:?run 'azd provision' first (AZURE_FUNCTION_PRINCIPAL_ID is unset)}"
app_name="${AZURE_FUNCTION_APP_NAME:?AZURE_FUNCTION_APP_NAME is unset}"
resource_group="${AZURE_RESOURCE_GROUP:-rg-${AZURE_ENV_NAME:?AZURE_ENV_NAME is unset}}"
vault="${AZURE_KEY_VAULT_NAME:?AZURE_KEY_VAULT_NAME is unset (run 'azd provision')}"
graph_app_id="00000003-0000-0000-c000-000000000000"

# -- 1. Graph application permissions ------------------------------------------------------------
# The calls that need each permission: docs/security.md (tests/unit/hardening checks that this list
# and that table agree). ChannelSettings.ReadWrite.All is not granted: no call updates a channel.
roles="Team.Create TeamMember.ReadWrite.All TeamSettings.ReadWrite.All Channel.Create \
Channel.ReadBasic.All User.Read.All GroupMember.Read.All Tasks.ReadWrite.All"
# The beta Planner delta (CTS_TASKS__USE_BETA_DELTA=true) documents Tasks.Read.All as its permission.
if [ "${WITH_PLANNER_DELTA:-0}" = "1" ]; then roles="$roles Tasks.Read.All"; fi
# Role tags (CTS_PROVISIONING__ROLE_TAGS): teamworktag-post documents TeamworkTag.ReadWrite.All.
if [ "${WITH_ROLE_TAGS:-0}" = "1" ]; then roles="$roles TeamworkTag.ReadWrite.All"; fi
# Record-connected channels (CTS_RECORDS__ENABLED, docs/records.md): the Dynamics 365 app installed
# in a team, its channel tabs, and the channel's files folder.
if [ "${WITH_RECORDS:-0}" = "1" ]; then
  roles="$roles TeamsAppInstallation.ReadWriteForTeam.All TeamsTab.ReadWriteForTeam.All Files.Read.All"
fi

if [ "${CTS_SKIP_GRAPH_GRANT:-0}" = "1" ]; then
  echo "postdeploy: CTS_SKIP_GRAPH_GRANT=1: not granting Graph permissions ($roles)"
else
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
      --body "{\"principalId\":\"$principal\",\"resourceId\":\"$graph_sp\",\"appRoleId\":\"$role_id\"}" \
      >/dev/null || fail "granting $role failed: you need Privileged Role Administrator or Global \
Administrator. The app is deployed but cannot reach Teams until an administrator runs this script"
    echo "granted: $role"
  done
fi

# -- 2. Webhook secrets in Key Vault -------------------------------------------------------------
secret() { az keyvault secret show --vault-name "$vault" --name "$1" --query value -o tsv 2>/dev/null || true; }
changed=0
put() {
  if [ "$(secret "$1")" != "$2" ]; then
    az keyvault secret set --vault-name "$vault" --name "$1" --value "$2" --content-type text/plain \
      >/dev/null || fail "cannot write secret $1 to $vault: you need 'Key Vault Secrets Officer' on it \
(infra/resources.bicep grants it to the operatorPrincipalId azd passes)"
    changed=1
    echo "secret set: $1"
  fi
}

host=$(az functionapp show -g "$resource_group" -n "$app_name" --query defaultHostName -o tsv)
webhook_key() {
  az functionapp function keys list -g "$resource_group" -n "$app_name" --function-name "$1" \
    --query default -o tsv
}
notifications_key=$(webhook_key graph_notifications)
lifecycle_key=$(webhook_key graph_lifecycle)
[ -n "$notifications_key" ] && [ -n "$lifecycle_key" ] || \
  fail "the webhook functions have no function keys yet: is the code deployed? ('azd deploy')"
put webhook-notification-url "https://$host/api/graph/notifications?code=$notifications_key"
put webhook-lifecycle-url "https://$host/api/graph/lifecycle?code=$lifecycle_key"
if [ -z "$(secret webhook-client-state)" ]; then
  put webhook-client-state "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
else
  echo "kept: webhook-client-state"
fi

# -- 3. Let the app read the new values -----------------------------------------------------------
if [ "$changed" = "1" ]; then
  az functionapp restart -g "$resource_group" -n "$app_name" >/dev/null
  echo "postdeploy: app restarted to read the new Key Vault secrets"
fi
echo "postdeploy: done. Verify with docs/deployment.md, step 7"
