"""Provisioning planner: Commerce org -> desired Teams state -> plan -> (simulated) result.

Pure code, no I/O: `desired()` says what Teams should look like, `plan()` lists the smallest set
of idempotent operations from the actual state to it, `apply()` executes a plan on paper.
The rules are written down in docs/provisioning.md.
"""

from shared.provisioning.desired import COMMUNICATIONS_KEY, desired
from shared.provisioning.naming import TemplateError, mail_nickname
from shared.provisioning.plan import plan
from shared.provisioning.simulate import SimulationError, apply

__all__ = [
    "COMMUNICATIONS_KEY",
    "SimulationError",
    "TemplateError",
    "apply",
    "desired",
    "mail_nickname",
    "plan",
]
