"""The whole app on one machine (Graph sandbox, Commerce sandbox, local Functions host); see
docs/scenarios.md."""

from local.stack.core import Ports, Stack, StackConfig, StackError, choose_ports

__all__ = ["Ports", "Stack", "StackConfig", "StackError", "choose_ports"]
