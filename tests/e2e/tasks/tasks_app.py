"""Test-only app: the task blueprint, plus a Commerce event trigger that hands hints to
`shared.sync.intake.handle_hint` (as functions/commerce_events.py is meant to) so task events reach
task mirroring. Provisioning is left out: the tests create and map the store teams themselves."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from functions.durable_client import DurableClientAdapter
from functions.tasks import bp
from shared.commerce.events import parse_message
from shared.domain.events import CommerceHint

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(bp)


@app.function_name("commerce_event")
@app.service_bus_topic_trigger(
    arg_name="msg",
    topic_name="%CTS_BUS__TOPIC%",
    subscription_name="%CTS_BUS__SUBSCRIPTION%",
    connection="ServiceBusConnection",
)
@app.durable_client_input(client_name="client")
async def commerce_event(msg: func.ServiceBusMessage, client: df.DurableOrchestrationClient) -> None:
    from shared.sync.intake import handle_hint
    from shared.sync.services import services

    result = parse_message(
        msg.get_body(),
        content_type=msg.content_type,
        application_properties=dict(msg.application_properties or {}),
    )
    if not isinstance(result, CommerceHint):
        return
    s = services()
    await handle_hint(
        result, commerce=s.commerce, state=s.state, client=DurableClientAdapter(client), settings=s.settings
    )
