"""OGC APIs (Features, Tiles, Processes) through pygeoapi, with roles.

``mount_ogc`` mounts pygeoapi at ``/ogc`` in the FastAPI host; its
configuration is generated from the layer catalog (``config.py``); the
provider and process plugins (``provider.py``, ``processes.py``) delegate to
the core ``Store``; ``gate.py`` resolves API keys to roles.
"""
