"""Security primitives of the core (no web framework): the audit hash chain."""
