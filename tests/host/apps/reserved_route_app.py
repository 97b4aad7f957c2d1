"""Test-only app the Functions host refuses: its route starts with the reserved `admin` prefix."""

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="admin/reconcile", methods=["POST"])
def reconcile(req: func.HttpRequest) -> str:
    return "never served"
