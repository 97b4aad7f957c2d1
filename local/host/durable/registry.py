"""Which durable functions an app has, and how to call them the way the Python worker does.

Orchestrators: the DFApp registers ``Orchestrator.create(user_fn)`` — a ``handle(context)``
callable that takes the orchestration context JSON string and returns the state JSON string
(azure/durable_functions/orchestrator.py). The engine runs the same three steps as ``handle``
(see `replay.run_episode`) so it can also read the sequence numbers the SDK assigned.

Activities: the worker decodes the input with ``ActivityTriggerConverter.decode`` (``df_loads``
of the JSON text, falling back to the raw string) and encodes the return value with
``ActivityTriggerConverter.encode`` (``df_dumps``; azure/functions/durable_functions.py).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from local.host.aio import call_function
from local.host.durable.errors import UnsupportedFunction


@dataclass(frozen=True)
class Orchestrator:
    name: str
    handle: Callable[[Any], str]  # what the worker invokes: context JSON in, state JSON out
    user_function: Callable[..., Any]  # the generator function (handle.orchestrator_function)
    input_type: type | None = None


@dataclass(frozen=True)
class Activity:
    name: str
    func: Callable[..., Any]
    input_arg: str
    client_arg: str | None = None  # a durableClient input binding, filled with the binding JSON

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)

    async def invoke(
        self, input_text: str | None, *, executor: Executor, client_json: Callable[[], str]
    ) -> str:
        """Run the activity with its input JSON text; returns the result JSON text (df_dumps)."""
        from azure.functions._durable_functions import df_dumps, df_loads

        value: Any = None
        if input_text is not None:
            try:
                value = df_loads(input_text)
            except json.JSONDecodeError:
                value = input_text  # the converter's "string failover"
        kwargs: dict[str, Any] = {self.input_arg: value}
        if self.client_arg:
            kwargs[self.client_arg] = client_json()
        result = await call_function(self.func, kwargs, executor)
        return str(df_dumps(result))


@dataclass
class DurableRegistry:
    """The orchestrators and activities of one function app."""

    orchestrators: dict[str, Orchestrator] = field(default_factory=dict)
    activities: dict[str, Activity] = field(default_factory=dict)

    @classmethod
    def from_app(cls, app: Any) -> DurableRegistry:
        """Index a `FunctionApp`/`DFApp`; raises `UnsupportedFunction` naming what cannot run."""
        registry = cls()
        problems: list[str] = []
        for fn in _functions(app):
            name = fn.get_function_name()
            trigger = fn.get_trigger()
            kind = trigger.get_dict_repr()["type"] if trigger is not None else None
            bindings = [b.get_dict_repr() for b in fn.get_bindings()]
            user = fn.get_user_function()
            if kind == "entityTrigger":
                problems.append(
                    f"function '{name}' is a durable entity (entityTrigger): entities are not "
                    "supported by the local durable engine"
                )
            elif kind == "orchestrationTrigger":
                inner = getattr(user, "orchestrator_function", None)
                if inner is None:
                    problems.append(
                        f"orchestrator '{name}' was not registered through DFApp.orchestration_trigger "
                        "(no Orchestrator.create handle)"
                    )
                    continue
                registry.orchestrators[name] = Orchestrator(
                    name, user, inner, getattr(user, "_df_input_type", None)
                )
            elif kind == "activityTrigger":
                activity = _activity(name, user, bindings, problems)
                if activity is not None:
                    registry.activities[name] = activity
        if problems:
            raise UnsupportedFunction(
                "the local durable engine cannot run this app:\n  - " + "\n  - ".join(problems)
            )
        return registry

    def orchestrator(self, name: str) -> Orchestrator | None:
        return self.orchestrators.get(name)

    def activity(self, name: str) -> Activity | None:
        return self.activities.get(name)


def _activity(
    name: str, func: Callable[..., Any], bindings: list[dict[str, Any]], problems: list[str]
) -> Activity | None:
    input_arg = next(b["name"] for b in bindings if b["type"] == "activityTrigger")
    client_arg = None
    for b in bindings:
        if b["type"] == "activityTrigger":
            continue
        if b["type"] == "durableClient":
            client_arg = b["name"]
            continue
        problems.append(
            f"activity '{name}' has a '{b['type']}' binding ('{b['name']}'): the local durable engine "
            "only supports durableClient bindings on activities"
        )
        return None
    return Activity(name, func, input_arg, client_arg)


def _functions(app: Any) -> list[Any]:
    # The SDK remembers the names it indexed and refuses a second get_functions() on the same app
    # object ("does not have a unique function name"); the host indexes the app too.
    if hasattr(app, "functions_bindings"):
        app.functions_bindings = None
    try:
        return list(app.get_functions())
    finally:
        if hasattr(app, "functions_bindings"):
            app.functions_bindings = None
