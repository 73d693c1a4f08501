"""The layer catalog: named queries over the core with style and access rules."""
