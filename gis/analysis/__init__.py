"""Domain modules composed of core primitives."""
