"""The Commerce sandbox: F&O OData under /data/, business/data events to a bus, a side channel."""

from local.commerce.server import create_app

__all__ = ["create_app"]
