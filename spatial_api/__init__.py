"""The HTTP host: FastAPI app factory, error table and the ``onemap`` CLI."""
