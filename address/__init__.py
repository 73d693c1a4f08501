"""Unified address service (统一地址服务): parse, standardize, match, geocode, reverse.

Public API::

    from address import AddressService, parse

    parse("深圳罗湖东门中路2001号湖贝大厦A座").components   # the 12 components
    svc = AddressService.from_store(store)                # built once (server start-up)
    svc.parse(text)            # components, typos corrected from the registry
    svc.geocode(text, limit)   # [Candidate(address_id, address, lon, lat, score, level)]
    svc.reverse(lon, lat, radius=100, limit=5, coordsys="wgs84")
    svc.geocode_many(texts)    # batch, input order, None when unresolved
    svc.registry_frame()       # the standard address registry (layer ``addresses``)

Modules: :mod:`~address.normalize` (text folding, Chinese numerals),
:mod:`~address.gazetteer` (names, aliases, typo index), :mod:`~address.parser`,
:mod:`~address.registry` (标准地址库), :mod:`~address.geocoder`,
:mod:`~address.reverse`, :mod:`~address.batch` (CSV), :mod:`~address.ingest`
(geocoding at ingest), :mod:`~address.evaluate` (measured quality),
:mod:`~address.service`. Nothing here imports a web framework.
"""

from address.errors import AddressError, AddressInputError, AddressParseError
from address.geocoder import Candidate
from address.parser import COMPONENTS, ParsedAddress, parse
from address.service import AddressService

__all__ = ["COMPONENTS", "AddressError", "AddressInputError", "AddressParseError",
           "AddressService", "Candidate", "ParsedAddress", "parse"]
