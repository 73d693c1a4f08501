"""The map viewer (static web app) and report maps."""
