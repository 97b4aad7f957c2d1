"""One msgraph-sdk client per event loop, on our own httpx client and middleware chain.

Why per loop: msgraph-sdk's adapters default to one module-level httpx client, which breaks when
a second event loop uses it ("Event loop is closed",
https://github.com/microsoftgraph/msgraph-sdk-python/issues/366). We build the httpx client inside
the running loop and cache the whole stack in a WeakKeyDictionary keyed by that loop.

Middleware: kiota's default chain minus RetryHandler (and BodyInspection); retries are done once,
by `retry.RetryingTransport` under the chain, for SDK and raw requests alike.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlparse

import httpx

from shared.graph.errors import GraphError, GraphUnavailable, from_body, from_sdk
from shared.graph.pacing import Pacing
from shared.graph.retry import RetryingTransport, RetryPolicy, Sleep
from shared.pool import POOL_LIMITS
from shared.settings import GraphSettings

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
T = TypeVar("T")


async def sdk(awaitable: Awaitable[T]) -> T:
    """Await an msgraph-sdk call; ODataError/APIError and transport errors become GraphError."""
    try:
        return await awaitable
    except GraphError:
        raise
    except httpx.TransportError as exc:
        raise GraphUnavailable(f"no response from Graph: {exc!r}") from exc
    except Exception as exc:
        if hasattr(exc, "response_status_code"):
            raise from_sdk(exc) from exc
        raise


class StaticTokenCredential:
    """azure.core AsyncTokenCredential returning a fixed token: the sandboxes only."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, int(time.time()) + 3600)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> StaticTokenCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        return None


def make_credential(settings: GraphSettings) -> Any:
    """The azure-identity credential the settings ask for (async flavours)."""
    if settings.auth == "static_token":
        return StaticTokenCredential(settings.static_token or "sandbox-token")
    if settings.auth == "client_certificate":
        from azure.identity.aio import CertificateCredential

        return CertificateCredential(settings.tenant_id, settings.client_id, settings.certificate_path)
    if settings.auth == "managed_identity":
        from azure.identity.aio import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=settings.client_id or None)
    raise ValueError(
        f"unknown Graph auth mode {settings.auth!r}; use managed_identity, client_certificate or static_token"
    )


@dataclass
class GraphClient:
    """The SDK client, its request adapter and the retrying transport of one event loop."""

    service: Any  # msgraph.GraphServiceClient
    adapter: Any  # msgraph.GraphRequestAdapter
    http: httpx.AsyncClient
    transport: RetryingTransport
    base_url: str
    # $batch calls shared by concurrent callers, one pipe per Graph version (batch.BatchPipe).
    batch_pipes: dict[str, Any] = field(default_factory=dict, repr=False)

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return self.base_url.rstrip("/") + "/" + path_or_url.lstrip("/")

    def root(self, version: str = "v1.0") -> str:
        """The service root of a Graph version: `https://graph.microsoft.com/beta` for "beta"
        (the configured base URL names v1.0; its last segment is swapped)."""
        base = self.base_url.rstrip("/")
        head, _, tail = base.rpartition("/")
        return f"{head}/{version}" if tail in ("v1.0", "beta") else base

    def relative(self, url: str, version: str = "v1.0") -> str | None:
        """`url` relative to the version root (for a `$batch` item), or None if it is elsewhere."""
        root = self.root(version)
        return url[len(root) :] if url.startswith(root + "/") else None

    async def send(
        self,
        method: str,
        path_or_url: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """A raw request through the SDK adapter (auth, middleware, retries); no error mapping."""
        from kiota_abstractions.method import Method
        from kiota_abstractions.native_response_handler import NativeResponseHandler
        from kiota_abstractions.request_information import RequestInformation
        from kiota_http.middleware.options import ResponseHandlerOption

        info = RequestInformation()
        info.http_method = Method(method.upper())
        info.url = self.url(path_or_url)
        info.headers.try_add("Accept", "application/json")
        for name, value in (headers or {}).items():
            info.headers.try_add(name, value)
        if body is not None:
            info.set_stream_content(json.dumps(body).encode(), "application/json")
        info.add_request_options([ResponseHandlerOption(NativeResponseHandler())])
        response: httpx.Response = await sdk(self.adapter.send_primitive_async(info, "bytes", None))
        return response

    async def call(
        self,
        method: str,
        path_or_url: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[Any, httpx.Response]:
        """`send`, then raise the typed GraphError on failure; returns (json or None, response)."""
        response = await self.send(method, path_or_url, body, headers)
        data = _json(response)
        if response.status_code >= 400:
            raise from_body(response.status_code, data, response.headers)
        return data, response

    async def get_or_none(self, path_or_url: str) -> Any | None:
        """GET a resource's JSON; None when Graph answers 404 (it no longer exists)."""
        from shared.graph.errors import NotFound

        try:
            data, _ = await self.call("GET", path_or_url)
        except NotFound:
            return None
        return data

    async def aclose(self) -> None:
        await self.http.aclose()


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def build_client(
    settings: GraphSettings,
    credential: Any,
    *,
    sleep: Sleep = asyncio.sleep,
    transport: httpx.AsyncBaseTransport | None = None,
    pacing: Pacing | None = None,
) -> GraphClient:
    """Build the stack; call inside the event loop that will use it. `pacing` is shared by every
    client of the process (one per event loop); None: paced by `settings` for this client alone."""
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from kiota_http.middleware import (
        HeadersInspectionHandler,
        ParametersNameDecodingHandler,
        RedirectHandler,
        UrlReplaceHandler,
        UserAgentHandler,
    )
    from msgraph.graph_request_adapter import GraphRequestAdapter
    from msgraph.graph_service_client import GraphServiceClient
    from msgraph_core import GraphClientFactory

    policy = RetryPolicy(max_retries=settings.max_retries, max_total_wait=settings.max_retry_wait_seconds)
    retrying = RetryingTransport(
        transport or httpx.AsyncHTTPTransport(retries=0, limits=POOL_LIMITS),
        policy,
        sleep=sleep,
        pacing=pacing or Pacing.of(settings.team_creates_per_second),
    )
    http = httpx.AsyncClient(transport=retrying, timeout=httpx.Timeout(30.0, connect=10.0))
    middleware = [
        RedirectHandler(),
        ParametersNameDecodingHandler(),
        UrlReplaceHandler(),
        UserAgentHandler(),
        HeadersInspectionHandler(),
    ]
    http = GraphClientFactory.create_with_custom_middleware(middleware, client=http)
    base_url = settings.base_url.rstrip("/")
    http.base_url = httpx.URL(base_url)
    host = urlparse(base_url).hostname or "graph.microsoft.com"
    auth = AzureIdentityAuthenticationProvider(credential, scopes=[GRAPH_SCOPE], allowed_hosts=[host])
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = base_url
    service = GraphServiceClient(request_adapter=adapter)
    return GraphClient(service=service, adapter=adapter, http=http, transport=retrying, base_url=base_url)


class ClientCache:
    """GraphClient per running event loop; entries vanish with their loop."""

    def __init__(self, settings: GraphSettings, credential: Any = None, **build_options: Any) -> None:
        self._settings = settings
        self._credential = credential
        self._options = build_options
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GraphClient] = (
            weakref.WeakKeyDictionary()
        )

    def get(self) -> GraphClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            credential = self._credential or make_credential(self._settings)
            client = build_client(self._settings, credential, **self._options)
            self._clients[loop] = client
        return client

    async def aclose(self) -> None:
        """Close the client of the running loop (others close with their loops)."""
        loop = asyncio.get_running_loop()
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()
