"""The corpus registry (filled in by the registry work)."""
