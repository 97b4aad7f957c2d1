"""Running syncs: requesting them (no loss, no overlap) and one team's sync pass."""
