"""Benchmarks at full demo scale (``make bench``); they print figures, they assert nothing."""
