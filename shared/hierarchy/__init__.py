"""The Teams targeting hierarchy generated from Commerce (docs/hierarchy.md)."""

from shared.hierarchy.export import HierarchyExport, HierarchyRow, fingerprint, targeting_hierarchy, to_csv

__all__ = ["HierarchyExport", "HierarchyRow", "fingerprint", "targeting_hierarchy", "to_csv"]
