#!/bin/sh
# azd preprovision: checks, before anything is created, that the deployer can finish the whole
# deployment, so `azd up` does not stop half-way. Read-only; safe to run again.
#
# The postdeploy hook grants the app's managed identity Microsoft Graph *application*
# permissions. Granting an app role of Microsoft Graph needs the Privileged Role Administrator or
# Global Administrator directory role (learn.microsoft.com/graph/api/serviceprincipal-post-approleassignedto,
# "Permissions"). Without it, set CTS_SKIP_GRAPH_GRANT=1 (`azd env set CTS_SKIP_GRAPH_GRANT 1`) and
# have an administrator run infra/hooks/postdeploy.sh later (docs/deployment.md, step 5).
set -eu

fail() { echo "preprovision: $*" >&2; exit 1; }

command -v az >/dev/null 2>&1 || fail "the Azure CLI (az) is not installed; see docs/deployment.md, step 1"
az account show >/dev/null 2>&1 || fail "not signed in to the Azure CLI: run 'az login' (azd and az keep separate sign-ins)"
[ -n "${CTS_COMMERCE_BASE_URL:-}" ] || fail "CTS_COMMERCE_BASE_URL is unset: azd env set CTS_COMMERCE_BASE_URL https://<env>.operations.dynamics.com"
[ -n "${CTS_COMMERCE_LEGAL_ENTITY:-}" ] || fail "CTS_COMMERCE_LEGAL_ENTITY is unset: azd env set CTS_COMMERCE_LEGAL_ENTITY <dataAreaId, e.g. USRT>"

if [ "${CTS_SKIP_GRAPH_GRANT:-0}" = "1" ]; then
  echo "preprovision: CTS_SKIP_GRAPH_GRANT=1: Graph permissions will NOT be granted; an administrator must run infra/hooks/postdeploy.sh"
  exit 0
fi

global_admin="62e90394-69f5-4237-9190-012177145e10"
privileged_role_admin="e8611ab8-c189-46e8-94e1-60213ab1f814"
roles=$(az rest --method GET \
  --uri "https://graph.microsoft.com/v1.0/me/transitiveMemberOf/microsoft.graph.directoryRole?\$select=roleTemplateId" \
  --query "value[].roleTemplateId" -o tsv 2>/dev/null) || fail "cannot read your directory roles from Microsoft Graph \
(signed in as a service principal?). Set CTS_SKIP_GRAPH_GRANT=1 and let an administrator run infra/hooks/postdeploy.sh"
if printf '%s\n' "$roles" | grep -qx -e "$global_admin" -e "$privileged_role_admin"; then
  echo "preprovision: you can grant Graph application permissions"
else
  fail "your account has neither Privileged Role Administrator nor Global Administrator, which granting \
Microsoft Graph application permissions needs. Nothing was created. Either ask for the role, or run \
'azd env set CTS_SKIP_GRAPH_GRANT 1' and have an administrator run infra/hooks/postdeploy.sh after 'azd up'"
fi
