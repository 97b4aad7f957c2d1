"""Errors of the local durable engine: each says what went wrong and what to do."""

from __future__ import annotations


class DurableError(Exception):
    """Base class of the engine's errors."""


class UnsupportedFunction(DurableError):
    """The app registers a durable function the local engine cannot run (e.g. an entity)."""


class OrchestratorNotFound(DurableError, ValueError):
    """`start_new` named a function that is not an orchestrator of the app."""


class InstanceAlreadyRunning(DurableError):
    """`start_new` for an instance id whose instance is Pending or Running (singleton refusal)."""

    def __init__(self, instance_id: str, status: str) -> None:
        # DTFx's OrchestrationAlreadyExistsException text, so clients see the familiar message.
        super().__init__(f"An Orchestration instance with the status {status} already exists.")
        self.instance_id = instance_id
        self.status = status


class InstanceNotFound(DurableError, LookupError):
    """No instance with that id."""

    def __init__(self, instance_id: str) -> None:
        super().__init__(f"No instance with ID '{instance_id}' found.")
        self.instance_id = instance_id


class InstanceGone(DurableError):
    """The instance has already completed, failed or been terminated."""

    def __init__(self, instance_id: str, status: str) -> None:
        super().__init__(f"Instance with ID {instance_id} is gone: its status is {status}")
        self.instance_id = instance_id
        self.status = status


class InstanceNotTerminal(DurableError):
    """Purge refused: only instances in a terminal state can be purged (as the extension does)."""

    def __init__(self, instance_id: str, status: str) -> None:
        super().__init__(
            "Only orchestrations in a terminal state can be purged, but the orchestration with "
            f"instance ID {instance_id} has status {status}"
        )
        self.instance_id = instance_id
        self.status = status
