"""Indicators of the operations centre (issue 17): the catalogue ``config/indicators.yaml``,
their computation per district, subdistrict, community and H3 block with time series,
k-anonymity, caching, and threshold alerts.

``catalog``: the validated catalogue; ``queries``: the core queries it names;
``sources``: the cached columnar frames read from the store; ``engine``: values,
changes and series; ``reach``: cached network reach for the coverage indicators;
``alerts``: threshold crossings raised as perception alerts.
"""

from gis.indicators.catalog import Catalog, Indicator, load_catalog
from gis.indicators.engine import IndicatorEngine
from gis.indicators.errors import (
    IndicatorConfigError,
    IndicatorError,
    IndicatorInputError,
    UnknownArea,
    UnknownIndicator,
)

__all__ = ["Catalog", "Indicator", "IndicatorConfigError", "IndicatorEngine", "IndicatorError",
           "IndicatorInputError", "UnknownArea", "UnknownIndicator", "load_catalog"]
