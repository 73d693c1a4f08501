"""The spatio-temporal core: entity model, H3 blocks, time axis, stores, analysis."""
