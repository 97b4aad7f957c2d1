"""Test-only function app serving just the ops blueprint (the page and the admin DLQ functions),
pointed by settings at another stack's broker file and state store."""

import azure.durable_functions as df
import azure.functions as func

from functions.ops import bp as ops

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(ops)
