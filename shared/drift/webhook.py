"""The webhook's answer to one request from Graph, decided without I/O (the 3-second rule).

- `?validationToken=` → 200 text/plain with the decoded token (within 10 s).
- Otherwise: parse; a body that is not a notification collection → 400, nothing queued.
- Each notification's clientState is compared in constant time; mismatches are dropped and
  counted. The accepted ones become ONE queue message (the Functions Service Bus output binding
  takes one message per invocation in Python), sent before the 202 leaves.
- Every notification dropped (or none sent) still answers 202: Graph documents only "2xx or we
  retry for up to 4 hours"; a 4xx would make Graph retry a delivery that can never pass and tell
  a forger that the secret is wrong. See docs/drift.md ("clientState").
Sources: https://learn.microsoft.com/graph/change-notifications-delivery-webhooks
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.drift.notifications import InvalidPayload, parse_notifications, screen, wire

QUEUE = "graph-notifications"
MESSAGE_SCHEMA = "cts.graph-notifications/1"


@dataclass(frozen=True)
class WebhookReply:
    status: int
    body: str = ""
    content_type: str = "text/plain"
    message: str | None = None  # the queue message to send before answering (JSON)
    accepted: int = 0
    dropped: int = 0
    problem: str | None = None  # why a request was refused (for the log; never the secret)


def answer(
    validation_token: str | None,
    body: bytes,
    secret: str,
    *,
    endpoint: str = "notifications",
    now: datetime | None = None,
) -> WebhookReply:
    """What to answer (and what to queue) for one POST to the notification or lifecycle URL."""
    if validation_token is not None:
        if not validation_token:
            return WebhookReply(400, "validationToken is empty", problem="empty-validation-token")
        # The query string is already URL-decoded by the host: echo it as is.
        return WebhookReply(200, validation_token)
    try:
        notifications = parse_notifications(body)
    except InvalidPayload as exc:
        return WebhookReply(400, str(exc), problem=exc.reason)
    screened = screen(notifications, secret)
    message = None
    if screened.accepted:
        message = json.dumps(
            {
                "schema": MESSAGE_SCHEMA,
                "endpoint": endpoint,
                "received_at": (now or datetime.now(UTC)).isoformat(),
                "value": [wire(n) for n in screened.accepted],
            },
            separators=(",", ":"),
        )
    problem = None
    if screened.dropped:
        problem = "client-state-not-configured" if not secret else "client-state-mismatch"
    return WebhookReply(
        202, message=message, accepted=len(screened.accepted), dropped=screened.dropped, problem=problem
    )
