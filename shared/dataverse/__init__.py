"""Dataverse Web API client (records, collaboration rows, document locations)."""

from shared.dataverse.client import DataverseClient
from shared.dataverse.errors import DataverseError, NotFound, PreconditionFailed, Throttled

__all__ = ["DataverseClient", "DataverseError", "NotFound", "PreconditionFailed", "Throttled"]
