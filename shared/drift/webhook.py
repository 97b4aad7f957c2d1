"""The webhook's answer to one request from Graph, decided without I/O (the 3-second rule).

- `?validationToken=` → 200 text/plain with the decoded token (within 10 s), at most
  `MAX_VALIDATION_TOKEN` characters, always with `X-Content-Type-Options: nosniff` so no browser
  renders an echoed token as anything but text.
- Otherwise: a body that is not a notification collection → 400, nothing queued. A body that is
  one is screened item by item (`shared.drift.notifications.screen_body`): clientState compared
  in constant time first, then the item's shape, then its tenant; each bad item is dropped and
  counted by reason, the rest go on.
- The accepted ones become queue messages of at most `max_message_bytes` each (Service Bus
  Standard refuses messages over 256 KB, header included:
  https://learn.microsoft.com/azure/service-bus-messaging/service-bus-quotas), all sent before
  the 202 leaves.
- Every notification dropped (or none sent) still answers 202: Graph documents only "2xx or we
  retry for up to 4 hours"; a 4xx would make Graph retry a delivery that can never pass and tell
  a forger that the secret is wrong. See docs/drift.md ("clientState").
Sources: https://learn.microsoft.com/graph/change-notifications-delivery-webhooks
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.drift.notifications import InvalidPayload, screen_body

QUEUE = "graph-notifications"
MESSAGE_SCHEMA = "cts.graph-notifications/1"
MAX_VALIDATION_TOKEN = 1024
"""Graph's validation tokens are ~100 characters of text; a longer one is not Graph's."""
MAX_MESSAGE_BYTES = 192 * 1024
"""Body budget per queue message: Standard's 256 KB per message includes the headers (up to
64 KB), so 192 KiB of body always fits."""
HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


@dataclass(frozen=True)
class WebhookReply:
    status: int
    body: str = ""
    content_type: str = "text/plain"
    messages: tuple[str, ...] = ()  # the queue messages to send before answering (JSON)
    accepted: int = 0
    dropped: int = 0
    problem: str | None = None  # why a request was refused (for the log; never the secret)
    reasons: dict[str, int] = field(default_factory=dict)  # dropped notifications by reason
    headers: dict[str, str] = field(default_factory=lambda: dict(HEADERS))

    @property
    def message(self) -> str | None:
        """The single queue message (None when nothing is queued); see `messages` for several."""
        return self.messages[0] if len(self.messages) == 1 else None


def answer(
    validation_token: str | None,
    body: bytes,
    secret: str,
    *,
    endpoint: str = "notifications",
    now: datetime | None = None,
    tenant_id: str = "",
    max_message_bytes: int = MAX_MESSAGE_BYTES,
) -> WebhookReply:
    """What to answer (and what to queue) for one POST to the notification or lifecycle URL."""
    if validation_token is not None:
        if not validation_token:
            return WebhookReply(400, "validationToken is empty", problem="empty-validation-token")
        if len(validation_token) > MAX_VALIDATION_TOKEN:
            return WebhookReply(400, "validationToken is too long", problem="validation-token-too-long")
        # The query string is already URL-decoded by the host: echo it as is (text/plain, nosniff).
        return WebhookReply(200, validation_token)
    try:
        screened = screen_body(body, secret, tenant_id=tenant_id)
    except InvalidPayload as exc:
        return WebhookReply(400, str(exc), problem=exc.reason)
    received_at = (now or datetime.now(UTC)).isoformat()
    messages, oversize = _messages(screened.wired, endpoint, received_at, max_message_bytes)
    reasons = dict(screened.reasons)
    if oversize:
        reasons["oversize-notification"] = oversize
    dropped = screened.dropped + oversize
    problem = None
    if dropped:
        problem = max(reasons, key=lambda r: reasons[r])
    return WebhookReply(
        202,
        messages=messages,
        accepted=len(screened.accepted) - oversize,
        dropped=dropped,
        problem=problem,
        reasons=reasons,
    )


def _envelope(endpoint: str, received_at: str, items: list[str]) -> str:
    """The queue message around notifications already in JSON (each `wire(n)`, compact)."""
    head = json.dumps(
        {"schema": MESSAGE_SCHEMA, "endpoint": endpoint, "received_at": received_at}, separators=(",", ":")
    )
    return head[:-1] + ',"value":[' + ",".join(items) + "]}"


def _messages(
    wired: tuple[str, ...], endpoint: str, received_at: str, limit: int
) -> tuple[tuple[str, ...], int]:
    """The accepted notifications (JSON text) packed greedily into messages of at most `limit`
    bytes; a notification that alone exceeds it is dropped (counted) rather than failing the
    whole POST."""
    overhead = len(_envelope(endpoint, received_at, []).encode("utf-8"))
    out: list[str] = []
    batch: list[str] = []
    size = overhead
    oversize = 0
    for item in wired:
        item_size = len(item.encode("utf-8")) + 1  # + comma
        if overhead + item_size > limit:
            oversize += 1
            continue
        if batch and size + item_size > limit:
            out.append(_envelope(endpoint, received_at, batch))
            batch, size = [], overhead
        batch.append(item)
        size += item_size
    if batch:
        out.append(_envelope(endpoint, received_at, batch))
    return tuple(out), oversize
