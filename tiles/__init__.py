"""Vector and raster tiles, tile cache and PMTiles packs."""
