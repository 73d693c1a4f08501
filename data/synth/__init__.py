"""Deterministic synthetic demo data inside the real Luohu outline."""
