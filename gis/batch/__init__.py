"""Batch work on a Dask cluster over GeoParquet partitions (city scale).

``gis.batch.cluster`` opens the Dask client (a ``LocalCluster`` by default,
``ONEMAP_DASK_SCHEDULER`` for a real cluster); ``gis.batch.partitions`` writes
and lists partitions ``{root}/{kind}/district={code}/part-0.parquet`` atomically;
``gis.batch.blocks`` computes block aggregates over them.
"""
