"""The runtime kill switch, one copy for every feature's pass (teams, task pairs, records): read
and set in the state store (`cts suspend` / `cts resume`,
`POST|DELETE /api/ops/suspend`). The deployment's own switch is `CTS_CONTROL__SUSPEND_ALL_WRITES`;
either one suspends every write (docs/control.md). The rule that applies it is
shared/provisioning/control.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.provisioning.control import WriteGate
from shared.settings import Settings
from shared.state import StateStore

_PARTITION, _NAME = "control", "switch"


async def switch(state: StateStore) -> dict[str, Any] | None:
    """The runtime switch as set (`{"suspended": True, "reason", "by", "at"}`), or None."""
    found = await state.get_value(_PARTITION, _NAME)
    return found if found and found.get("suspended") else None


async def write_gate(state: StateStore, settings: Settings) -> WriteGate:
    """What this pass may write: one state read (the runtime switch) plus the settings."""
    c = settings.control
    reason = "CTS_CONTROL__SUSPEND_ALL_WRITES is set" if c.suspend_all_writes else ""
    suspended = c.suspend_all_writes
    if not suspended and (runtime := await switch(state)) is not None:
        suspended = True
        reason = f"suspended by {runtime.get('by') or 'an operator'} at {runtime.get('at', '?')}"
        if runtime.get("reason"):
            reason += f": {runtime['reason']}"
    return WriteGate(
        suspended=suspended,
        reason=reason,
        excluded_stores=frozenset(c.excluded_stores),
        excluded_regions=frozenset(c.excluded_regions),
    )


async def set_switch(state: StateStore, *, suspended: bool, by: str, reason: str = "") -> dict[str, Any]:
    """Turn the runtime switch on or off (audited). Returns the switch as now stored."""
    value = {"suspended": suspended, "by": by, "reason": reason, "at": datetime.now(UTC).isoformat()}
    if suspended:
        await state.put_value(_PARTITION, _NAME, value)
    else:
        await state.delete_value(_PARTITION, _NAME)
    await state.audit("control", {"action": "suspend" if suspended else "resume", **value})
    return value


__all__ = ["set_switch", "switch", "write_gate"]
