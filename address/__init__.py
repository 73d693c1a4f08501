"""Unified address service: parse, standardize, match, geocode, reverse."""
