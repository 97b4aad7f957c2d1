"""`cts`: the operations CLI of the Commerce ↔ Teams sync (production and local stack alike)."""
