"""Bearer tokens for F&O OData: Entra ID via azure-identity in production, a static token for the
sandbox. The scope is the environment URL + '/.default' (client-credentials flow against the F&O
resource; the exact form is unconfirmed in a Microsoft source — docs/commerce.md)."""

from __future__ import annotations

import time
from typing import Any, Protocol

_REFRESH_MARGIN_SECONDS = 300


class TokenProvider(Protocol):
    async def token(self) -> str:
        """A bearer token valid for at least the next few minutes."""
        ...

    async def close(self) -> None: ...


class StaticToken:
    """The sandbox's token (or any pre-issued token)."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def token(self) -> str:
        return self._token

    async def close(self) -> None:
        return None


class CredentialToken:
    """Tokens from an azure-identity async credential, cached until 5 minutes before expiry."""

    def __init__(self, credential: Any, scope: str) -> None:
        self._credential = credential
        self._scope = scope
        self._cached: tuple[str, float] | None = None

    async def token(self) -> str:
        if self._cached and self._cached[1] - _REFRESH_MARGIN_SECONDS > time.time():
            return self._cached[0]
        access = await self._credential.get_token(self._scope)
        self._cached = (str(access.token), float(access.expires_on))
        return self._cached[0]

    async def close(self) -> None:
        close = getattr(self._credential, "close", None)
        if close is not None:
            await close()


class AuthSettings(Protocol):
    """What a token provider needs from a service's settings (Commerce, Dataverse)."""

    base_url: str
    auth: str
    client_id: str
    static_token: str
    scope: str


def scope_for(settings: AuthSettings) -> str:
    return settings.scope or f"{settings.base_url.rstrip('/')}/.default"


def token_provider(settings: AuthSettings, prefix: str = "CTS_COMMERCE") -> TokenProvider:
    """What `settings.auth` asks for: 'static_token', 'managed_identity' or 'default'
    (DefaultAzureCredential: environment, workload identity, Azure CLI… for developer machines)."""
    if settings.auth == "static_token":
        if not settings.static_token:
            raise ValueError(f"{prefix}__AUTH=static_token needs {prefix}__STATIC_TOKEN")
        return StaticToken(settings.static_token)
    if settings.auth == "managed_identity":
        from azure.identity.aio import ManagedIdentityCredential

        return CredentialToken(
            ManagedIdentityCredential(client_id=settings.client_id or None), scope_for(settings)
        )
    if settings.auth == "default":
        from azure.identity.aio import DefaultAzureCredential

        return CredentialToken(DefaultAzureCredential(), scope_for(settings))
    raise ValueError(
        f"unknown {prefix}__AUTH {settings.auth!r}: use managed_identity, default or static_token"
    )
