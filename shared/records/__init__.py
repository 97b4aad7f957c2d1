"""Record-connected channels: template, desired connections, plan (pure), simulate (pure).

The pass that reads Dataverse and Graph and executes a plan is shared/records/records_pass.py."""

from shared.records.desired import desired, pass_key
from shared.records.plan import plan
from shared.records.simulate import apply
from shared.records.template import Template, TemplateError, parse_template

__all__ = ["Template", "TemplateError", "apply", "desired", "parse_template", "pass_key", "plan"]
