"""Stores: the ``Store`` protocol and its backends."""
