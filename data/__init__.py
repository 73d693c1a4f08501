"""Demo data: the real Luohu sources (``data/real``) and the synthetic generator."""
